from django.apps import AppConfig


class ApiKeysConfig(AppConfig):
    """The creditor API's keys (a part of `accounts` with models and migrations of its own)."""

    name = "accounts.api_keys"
    label = "api_keys"
    verbose_name = "API keys"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the OpenAPI description of the authentication (drf-spectacular extension).
        from accounts.api_keys import openapi  # noqa: F401
