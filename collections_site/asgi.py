"""ASGI entry point (gunicorn in production)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collections_site.settings.base")

application = get_asgi_application()
