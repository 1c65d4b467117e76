"""Signed, tamper-proof tokens for the open pixel, click redirects and unsubscribe links.

Tokens are short (they go into SMS): `<payload>:<signature>` made with `django.core.signing`
(HMAC-SHA256 keyed by SECRET_KEY, a salt per purpose, rotation through SECRET_KEY_FALLBACKS)
with the signature cut to 16 base64 characters (96 bits: forging one is out of reach). A click
token names a message and the index of a link *in that message*, never a URL: the redirect
target is read from the message's frozen `links`, so an altered or forged token is a 404 and
can never redirect anywhere else.
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.core import signing
from django.urls import reverse

_SIGNATURE_CHARS = 16


class _ShortSigner(signing.Signer):
    """A `Signer` whose signature is truncated; `unsign` compares the truncated form."""

    def signature(self, value, key=None):
        return super().signature(value, key)[:_SIGNATURE_CHARS]


def _signer(purpose: str) -> _ShortSigner:
    return _ShortSigner(salt=f"messaging.{purpose}", algorithm="sha256")


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rem = divmod(number, 36)
        out = digits[rem] + out
        if not number:
            return out


def _sign(purpose: str, *parts: int | str) -> str:
    payload = ".".join(_b36(p) if isinstance(p, int) else p for p in parts)
    return _signer(purpose).sign(payload)


def _unsign(purpose: str, token: str) -> list[str] | None:
    try:
        payload = _signer(purpose).unsign(token)
    except signing.BadSignature:
        return None
    return payload.split(".")


def _int36(text: str) -> int | None:
    try:
        value = int(text, 36)
    except ValueError:
        return None
    return value if value >= 0 else None


# --- tokens ----------------------------------------------------------------------------------


def click_token(*, message_id: int, index: int) -> str:
    return _sign("click", message_id, index)


def click_read(token: str) -> tuple[int, int] | None:
    """(message id, link index) from a click token, or None if it was not made by us."""
    parts = _unsign("click", token)
    if not parts or len(parts) != 2:
        return None
    message_id, index = _int36(parts[0]), _int36(parts[1])
    if message_id is None or index is None:
        return None
    return message_id, index


def open_token(*, message_id: int) -> str:
    return _sign("open", message_id)


def open_read(token: str) -> int | None:
    parts = _unsign("open", token)
    if not parts or len(parts) != 1:
        return None
    return _int36(parts[0])


def unsubscribe_token(*, debtor_id: int, channel: str, message_id: int | None = None) -> str:
    """Opt-out token: the debtor and channel, and the message it came in (0 if none)."""
    return _sign("unsubscribe", debtor_id, channel, message_id or 0)


def unsubscribe_read(token: str) -> tuple[int, str, int | None] | None:
    """(debtor id, channel, message id or None) from an opt-out token, or None."""
    parts = _unsign("unsubscribe", token)
    if not parts or len(parts) != 3:
        return None
    debtor_id, message_id = _int36(parts[0]), _int36(parts[2])
    if debtor_id is None or message_id is None:
        return None
    return debtor_id, parts[1], message_id or None


# --- URLs ------------------------------------------------------------------------------------


_MARK = "TOKEN"


@lru_cache(maxsize=16)
def _shape(name: str, site_url: str) -> tuple[str, str]:
    # reverse() once per URL name; a token is then put between the two halves.
    before, _, after = (site_url + reverse(name, args=[_MARK])).partition(_MARK)
    return before, after


def _url(name: str, token: str) -> str:
    before, after = _shape(name, settings.SITE_URL)
    return f"{before}{token}{after}"


def click_url(*, message_id: int, index: int) -> str:
    return _url("messaging:click", click_token(message_id=message_id, index=index))


def open_url(*, message_id: int) -> str:
    return _url("messaging:open", open_token(message_id=message_id))


def unsubscribe_url(*, debtor_id: int, channel: str, message_id: int | None = None) -> str:
    token = unsubscribe_token(debtor_id=debtor_id, channel=channel, message_id=message_id)
    return _url("messaging:unsubscribe", token)


def unsubscribe_prefix() -> str:
    """The start every opt-out URL shares (the token follows)."""
    return _shape("messaging:unsubscribe", settings.SITE_URL)[0]
