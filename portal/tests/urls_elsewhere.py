"""A URLconf that mounts the portal at /q/ (portal/tests/test_templates.py)."""

from django.urls import include, path

urlpatterns = [path("q/", include("portal.urls"))]
