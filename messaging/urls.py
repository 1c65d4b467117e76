"""Messaging's public URLs, mounted under /m/ by collections_site.urls."""

from django.urls import path

from messaging import anymail_hooks, views

app_name = "messaging"

urlpatterns = [
    path("o/<str:token>.gif", views.open_pixel, name="open"),
    path("c/<str:token>", views.click, name="click"),
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("hooks/twilio/status/", views.twilio_status, name="twilio_status"),
    path("hooks/twilio/inbound/", views.twilio_inbound, name="twilio_inbound"),
    # Provider email events (delivered, bounced, complained, ...) through django-anymail's
    # webhook views, e.g. /m/hooks/anymail/mailgun/tracking/: the configured ESP only (others
    # are a 404), authenticated, fresh and acted on once (messaging/anymail_hooks.py).
    path("hooks/anymail/<slug:esp>/tracking/", anymail_hooks.tracking, name="anymail_tracking"),
]
