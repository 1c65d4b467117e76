from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "collections_site.privacy"
    label = "privacy"
    verbose_name = "Privacy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from collections_site.privacy import checks  # noqa: F401 (registers the system check)
