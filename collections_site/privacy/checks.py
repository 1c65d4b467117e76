"""System check: `PRIVACY_RETENTION` must be a configuration retention understands, so a typo
stops the site and the commands at start-up instead of the nightly run."""

from __future__ import annotations

from django.core.checks import Error, register

from collections_site.privacy.retention import RetentionConfigError, configuration


@register()
def retention_configuration_check(app_configs, **kwargs) -> list[Error]:
    try:
        configuration()
    except RetentionConfigError as exc:
        return [
            Error(
                str(exc),
                hint="See docs/privacy.md, Retention, for the format.",
                id="privacy.E001",
            )
        ]
    return []
