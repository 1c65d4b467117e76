"""Provider webhook helpers: Twilio request signatures and status mapping, anymail events.

Twilio signs each webhook with X-Twilio-Signature = base64(HMAC-SHA1(auth token, full URL +
every POST parameter name and value, sorted by name)). The URL is the one Twilio called, which
behind a proxy is SITE_URL + path, so both that and the URL Django sees are accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.utils.crypto import constant_time_compare

from messaging.models import EventKind

# Twilio MessageStatus -> our event kind (statuses before delivery are not events).
TWILIO_STATUS_EVENTS = {
    "delivered": EventKind.DELIVERED,
    "undelivered": EventKind.FAILED,
    "failed": EventKind.FAILED,
    "read": EventKind.OPENED,  # WhatsApp read receipts
}

# anymail's normalised event types -> our event kinds (others are ignored).
ANYMAIL_EVENTS = {
    "delivered": EventKind.DELIVERED,
    "bounced": EventKind.BOUNCED,
    "rejected": EventKind.BOUNCED,
    "failed": EventKind.FAILED,
    "complained": EventKind.COMPLAINED,
    "unsubscribed": EventKind.UNSUBSCRIBED,
    "opened": EventKind.OPENED,
    "clicked": EventKind.CLICKED,
}


def message_pk(ref: object) -> int | None:
    """The outbox id a webhook names (`?m=` on Twilio callbacks, anymail metadata), or None
    when `ref` is not a plain decimal number ("", "1e3", "²" and the like are ignored)."""
    text = str(ref) if ref is not None else ""
    return int(text) if text.isascii() and text.isdigit() else None


def twilio_signature(url: str, params: Mapping[str, Iterable[str]], token: str) -> str:
    """The X-Twilio-Signature Twilio computes for a request to `url` with `params`."""
    data = url
    for name in sorted(params):
        for value in sorted(set(params[name])):
            data += name + value
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _port_variants(url: str) -> list[str]:
    """Twilio may sign with or without the default port; accept both forms."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if parts.port is None and default:
        with_port = parts._replace(netloc=f"{parts.hostname}:{default}")
        return [url, urlunsplit(with_port)]
    if parts.port == default:
        return [url, urlunsplit(parts._replace(netloc=parts.hostname or ""))]
    return [url]


def twilio_request_valid(
    *, urls: Iterable[str], params: Mapping[str, Iterable[str]], signature: str
) -> bool:
    """Whether `signature` signs one of `urls` with `params` under TWILIO_AUTH_TOKEN."""
    token = settings.TWILIO_AUTH_TOKEN
    if not token or not signature:
        return False
    for url in urls:
        for candidate in _port_variants(url):
            if constant_time_compare(twilio_signature(candidate, params, token), signature):
                return True
    return False
