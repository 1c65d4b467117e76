"""System checks of messaging's settings (run by `manage.py check`, `migrate`, `runserver` and
`qcluster`, which refuse to start on an error)."""

from __future__ import annotations

from django.core.checks import Error, register

from messaging.anymail_hooks import configured_esp, webhook_security


@register("messaging")
def anymail_webhook_check(app_configs, **kwargs) -> list[Error]:
    """An ESP configured for e-mail must have webhook authentication: without it anyone could
    post its tracking events (bounces, spam reports, opens) to /m/hooks/anymail/<esp>/tracking/,
    which then refuses every event (403)."""
    esp = configured_esp()
    if esp is None:
        return []
    security = webhook_security(esp)
    if not security.problem:
        return []
    return [
        Error(
            f"The {esp} tracking webhook cannot authenticate events: {security.problem}.",
            hint="See docs/messaging.md, 'Webhook security'. Until then every event is refused.",
            id="messaging.E001",
        )
    ]
