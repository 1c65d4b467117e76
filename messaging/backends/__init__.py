"""Channel backends: how a message physically leaves (SMTP/ESP, SMS/WhatsApp provider, print).

Private to `messaging`: only `messaging.services` hands messages to them (a test fails if any
module outside `messaging` imports this package). Pick them with the `MESSAGING_*_BACKEND`
settings; `backend_for(channel)` returns the configured instance.
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string

from messaging.backends.base import BackendError, ChannelBackend, HandOff, Outbound

__all__ = ["BackendError", "ChannelBackend", "HandOff", "Outbound", "backend_for"]

_SETTING = {
    "email": "MESSAGING_EMAIL_CHANNEL_BACKEND",
    "sms": "MESSAGING_SMS_BACKEND",
    "whatsapp": "MESSAGING_WHATSAPP_BACKEND",
    "letter": "MESSAGING_LETTER_BACKEND",
}
_DEFAULTS = {
    "email": "messaging.backends.email.EmailBackend",
    "sms": "messaging.backends.sms.FileSmsBackend",
    "whatsapp": "messaging.backends.sms.FileSmsBackend",
    "letter": "messaging.backends.letter.LetterBatchBackend",
}


@lru_cache(maxsize=16)
def _build(path: str, channel: str) -> ChannelBackend:
    return import_string(path)(channel=channel)


def backend_for(channel: str) -> ChannelBackend:
    """The configured backend instance for `channel` (one per dotted path and channel)."""
    path = getattr(settings, _SETTING[channel]) or _DEFAULTS[channel]
    return _build(path, channel)
