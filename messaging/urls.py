"""Messaging's public URLs, mounted under /m/ by collections_site.urls."""

from django.urls import include, path

from messaging import views

app_name = "messaging"

urlpatterns = [
    path("o/<str:token>.gif", views.open_pixel, name="open"),
    path("c/<str:token>", views.click, name="click"),
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("hooks/twilio/status/", views.twilio_status, name="twilio_status"),
    path("hooks/twilio/inbound/", views.twilio_inbound, name="twilio_inbound"),
    # Provider email events (delivered, bounced, complained, ...) through django-anymail's
    # signature-checking webhook views, e.g. /m/hooks/anymail/mailgun/tracking/ (malformed
    # bodies answered 400: messaging/anymail_hooks.py).
    path("hooks/anymail/", include("messaging.anymail_hooks")),
]
