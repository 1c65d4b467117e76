from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The debtor's self-service site."""

    name = "portal"
    verbose_name = "Debtor portal"
