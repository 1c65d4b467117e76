"""Signed, expiring links that let a debtor into the portal.

Lives in `accounts` because both `messaging` (every message carries a portal link) and
`portal` (which exchanges the token for a session) need it, and imports only run towards
`accounts`. A token names the debtor and carries a random link id (`jti`), so one link can be
locked out (wrong identity answers) without locking the debtor's other links.

A link printed in a letter is a **letter code** instead: `SITE_URL/p/K3M9-TTQ4-ZZ7A-B2CD/`,
short enough to type from paper (the signed token is some 100 characters of mixed case). It
is Crockford base32 (no I, L, O or U; read case-blind, with or without the hyphens, O as 0
and I or L as 1) of the debtor id, the day it was made and a 50-bit HMAC of both under
`SECRET_KEY` (`salted_hmac`; `SECRET_KEY_FALLBACKS` are read too). Nothing is stored: the
code is checked as a token is. It lives `PORTAL_LETTER_LINK_MAX_AGE_DAYS` whole days after
the day it was made (against `PORTAL_LINK_MAX_AGE_DAYS` for the links of emails and texts),
since the post takes days and a letter is read when it arrives. Its link id (`jti`) is its
HMAC, so the lockout counts wrong identity answers per code; forging one means guessing 50
bits online (2^50 requests, each answered by the same "link cannot be used" page), and then
the identity check.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core import signing
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

_SALT = "portal-link-v1"
_CODE_SALT = "portal-letter-code-v1"
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
_CODE_READ = {c: i for i, c in enumerate(_CODE_ALPHABET)} | {"O": 0, "I": 1, "L": 1}
_CODE_EPOCH = date(2020, 1, 1)
_CODE_DAY_CHARS = 3  # 32,768 days from the epoch
_CODE_MAC_CHARS = 10  # 50 bits


@dataclass(frozen=True, slots=True)
class PortalToken:
    debtor_id: int
    jti: str


class LinkInvalid(Exception):
    """The token was altered, is not ours, or has expired (callers never say which)."""


def link_max_age() -> timedelta:
    """How long a link in an email or a text message stays valid."""
    return timedelta(days=settings.PORTAL_LINK_MAX_AGE_DAYS)


def portal_token_make(*, debtor_id: int) -> str:
    """A fresh URL-safe token for one debtor.

    Not compressed: zlib never shortens a payload this small and random, and trying would be
    a large share of the signing's cost. `portal_token_read` accepts compressed tokens too
    (`signing.loads` reads both forms)."""
    return signing.dumps({"d": debtor_id, "j": secrets.token_urlsafe(9)}, salt=_SALT)


def portal_token_read(token: str, *, max_age: timedelta | None = None) -> PortalToken:
    """Check a token or a letter code and its age; raises `LinkInvalid` for anything but a
    good, fresh one. Fresh: younger than `max_age` when given, else than its own validity."""
    if _is_letter_code(token):
        return _letter_code_read(token, max_age=max_age)
    try:
        data = signing.loads(token, salt=_SALT, max_age=max_age or link_max_age())
        return PortalToken(debtor_id=int(data["d"]), jti=str(data["j"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise LinkInvalid from exc


# --- letter codes ----------------------------------------------------------------------------


def letter_code_make(*, debtor_id: int, today: date | None = None) -> str:
    """The letter code of one debtor for `today` (UTC), in groups of four (the last of up to
    six) joined by hyphens: 16 characters up to debtor 32,767, 17 up to 1,048,575."""
    day = ((today or _utc_today()) - _CODE_EPOCH).days
    body = _b32(debtor_id) + _b32(day, width=_CODE_DAY_CHARS)
    code = body + _code_mac(body, settings.SECRET_KEY)
    groups = [code[i : i + 4] for i in range(0, len(code), 4)]
    if len(groups[-1]) < 3:  # "3RJ0-2F4G-35G3-XST4M", not a lone "-M" at the end
        last = groups.pop()
        groups[-1] += last
    return "-".join(groups)


def letter_code_shaped(text: str) -> bool:
    """True when `text` could be a letter code as a person types it (its characters and
    length; not whether it is ours: `portal_token_read` says that)."""
    chars = _code_chars(text)
    return len(chars) > _CODE_DAY_CHARS + _CODE_MAC_CHARS and all(c in _CODE_READ for c in chars)


def _is_letter_code(token: str) -> bool:
    return ":" not in token  # signed tokens always have one; letter codes never


def _code_chars(text: str) -> str:
    """A code as typed, without its hyphens and spaces, in capitals."""
    return "".join(c for c in text.upper() if c not in "- ")


def _letter_code_read(code: str, *, max_age: timedelta | None) -> PortalToken:
    try:
        text = "".join(_CODE_ALPHABET[_CODE_READ[c]] for c in _code_chars(code))
    except KeyError as exc:
        raise LinkInvalid from exc
    body, mac = text[:-_CODE_MAC_CHARS], text[-_CODE_MAC_CHARS:]
    if len(body) <= _CODE_DAY_CHARS:
        raise LinkInvalid
    secrets_ = (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)
    if not any(constant_time_compare(mac, _code_mac(body, key)) for key in secrets_):
        raise LinkInvalid
    made = _CODE_EPOCH + timedelta(days=_b32_read(body[-_CODE_DAY_CHARS:]))
    days = (max_age or timedelta(days=settings.PORTAL_LETTER_LINK_MAX_AGE_DAYS)).days
    if (_utc_today() - made).days > days:
        raise LinkInvalid
    return PortalToken(debtor_id=_b32_read(body[:-_CODE_DAY_CHARS]), jti=f"c{mac}")


def _code_mac(body: str, key: str) -> str:
    digest = salted_hmac(_CODE_SALT, body, secret=key, algorithm="sha256").digest()
    return _b32(int.from_bytes(digest[:8]) >> (64 - 5 * _CODE_MAC_CHARS), width=_CODE_MAC_CHARS)


def _b32(n: int, *, width: int = 1) -> str:
    out = ""
    while n or len(out) < width:
        n, r = divmod(n, 32)
        out = _CODE_ALPHABET[r] + out
    return out


def _b32_read(text: str) -> int:
    n = 0
    for c in text:
        n = n * 32 + _CODE_ALPHABET.index(c)
    return n


def _utc_today() -> date:
    return timezone.now().date()  # UTC (USE_TZ)


def _portal_prefix() -> str:
    return f"{settings.SITE_URL}/p/"


def portal_url(*, debtor_id: int, paper: bool = False) -> str:
    """The absolute link put in messages: `SITE_URL/p/<token>/`; in a letter (`paper`), the
    debtor's letter code of the day instead of a token."""
    token = (
        letter_code_make(debtor_id=debtor_id) if paper else portal_token_make(debtor_id=debtor_id)
    )
    return f"{_portal_prefix()}{token}/"


def is_portal_url(url: str) -> bool:
    """True for a link `portal_url` made (its form, not its signature: see `portal_token_read`)."""
    prefix = _portal_prefix()
    token = url[len(prefix) :].rstrip("/")
    return url.startswith(prefix) and bool(token) and "/" not in token


def portal_url_in(links: Iterable[str]) -> str | None:
    """The first portal link among a message's `links`, or None."""
    return next((link for link in links if is_portal_url(link)), None)


def letter_code_of(url: str) -> str | None:
    """The letter code a portal link carries (as printed), or None for a signed token's link."""
    token = url.rstrip("/").rpartition("/")[2]
    return token if is_portal_url(url) and _is_letter_code(token) else None


def demo_verification_hint(*, date_of_birth, postal_code: str) -> str | None:
    """What the portal's verification page will ask for, as a line for demo commands.

    Only with DEBUG on (a development or demo setup, where the debtors are made up); None in
    production, where a command's output must never carry a debtor's identity answers."""
    if not settings.DEBUG:
        return None
    born = (
        f"{date_of_birth:%Y-%m-%d} (day {date_of_birth.day}, month {date_of_birth.month}, "
        f"year {date_of_birth.year})"
        if date_of_birth
        else "not on file"
    )
    return (
        f"Demo only (shown because DEBUG is on): the page asks for date of birth {born} "
        f"and postal code {postal_code or 'not on file'}."
    )
