from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    """Per-region contact rules, checked before every send and again at delivery."""

    name = "compliance"
    verbose_name = "Compliance"
