from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The debtor's self-service site."""

    name = "portal"
    verbose_name = "Debtor portal"

    def ready(self) -> None:
        from portal import checks  # noqa: F401 (registers the system checks)
