"""Signal receivers: django-anymail's normalised tracking events -> `services.event_record`.

anymail's webhook views check the ESP's signature and/or basic auth (ANYMAIL WEBHOOK_SECRET)
before sending the signal, and only the configured ESP's view is served
(`messaging.anymail_hooks`); the receiver only translates and calls one service. Replays are
idempotent: the event key is the ESP's event id (for Mailgun, its event id within the message
rather than the signature token anymail uses, so a delivery the ESP signs again is still the
same event).
"""

from __future__ import annotations

import logging
from typing import Any

from messaging import services
from messaging.models import Message
from messaging.webhooks import ANYMAIL_EVENTS, message_pk

logger = logging.getLogger(__name__)


def anymail_tracking(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    kind = ANYMAIL_EVENTS.get(event.event_type)
    if kind is None:
        return
    message = None
    metadata = event.metadata if isinstance(event.metadata, dict) else {}
    pk = message_pk(metadata.get("message_id"))
    if pk is not None:
        message = Message.objects.filter(pk=pk, channel="email").first()
    if message is None and event.message_id:
        message = Message.objects.filter(provider_id=event.message_id, channel="email").first()
    if message is None:
        logger.info("anymail event for an unknown message: esp=%s type=%s", esp_name,
                    event.event_type)  # fmt: skip
        return
    esp = str(esp_name).lower().replace(" ", "")
    event_id = _mailgun_event_id(event, message) if esp == "mailgun" else None
    event_id = event_id or event.event_id
    event_id = event_id or f"{event.message_id}:{event.event_type}:{event.timestamp}"
    data: dict[str, Any] = {"esp_event": event.event_type}
    if event.reject_reason:
        data["reason"] = f"{event.event_type}: {event.reject_reason}"
    services.event_record(
        message=message,
        kind=kind,
        event_key=f"anymail:{esp}:{event_id}",
        source=f"anymail:{esp}"[:30],
        occurred_at=event.timestamp,
        data=data,
    )


def _mailgun_event_id(event: Any, message: Message) -> str | None:
    """Mailgun's own event id (`event-data.id`, unique within a day), with the message id."""
    esp_event = event.esp_event if isinstance(event.esp_event, dict) else {}
    data = esp_event.get("event-data")
    mailgun_id = data.get("id") if isinstance(data, dict) else None
    if isinstance(mailgun_id, str) and mailgun_id:
        return f"{message.pk}:{mailgun_id}"
    return None
