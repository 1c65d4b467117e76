"""/admin/2fa/: mounted by collections_site/urls.py in front of Wagtail's admin, so users of
the Django admin alone reach them too."""

from django.urls import path

from accounts.staff import views

urlpatterns = [
    path("", views.overview, name="staff_2fa"),
    path("verify/", views.verify, name="staff_2fa_verify"),
    path("setup/", views.setup, name="staff_2fa_setup"),
    path("recovery-codes/", views.recovery_codes, name="staff_2fa_recovery_codes"),
]
