from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Outbound webhooks (a part of `accounts` with models and migrations of its own)."""

    name = "accounts.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"
