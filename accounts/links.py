"""Signed, expiring links that let a debtor into the portal.

Lives in `accounts` because both `messaging` (every message carries a portal link) and
`portal` (which exchanges the token for a session) need it, and imports only run towards
`accounts`. A token names the debtor and carries a random link id (`jti`), so one link can be
locked out (wrong identity answers) without locking the debtor's other links.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing

_SALT = "portal-link-v1"


@dataclass(frozen=True, slots=True)
class PortalToken:
    debtor_id: int
    jti: str


class LinkInvalid(Exception):
    """The token was altered, is not ours, or has expired (callers never say which)."""


def link_max_age() -> timedelta:
    return timedelta(days=settings.PORTAL_LINK_MAX_AGE_DAYS)


def portal_token_make(*, debtor_id: int) -> str:
    """A fresh URL-safe token for one debtor.

    Not compressed: zlib never shortens a payload this small and random, and trying would be
    a large share of the signing's cost. `portal_token_read` accepts compressed tokens too
    (`signing.loads` reads both forms)."""
    return signing.dumps({"d": debtor_id, "j": secrets.token_urlsafe(9)}, salt=_SALT)


def portal_token_read(token: str, *, max_age: timedelta | None = None) -> PortalToken:
    """Check signature and age; raises `LinkInvalid` for anything but a good, fresh token."""
    try:
        data = signing.loads(token, salt=_SALT, max_age=max_age or link_max_age())
        return PortalToken(debtor_id=int(data["d"]), jti=str(data["j"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise LinkInvalid from exc


def _portal_prefix() -> str:
    return f"{settings.SITE_URL}/p/"


def portal_url(*, debtor_id: int) -> str:
    """The absolute link put in messages: `SITE_URL/p/<token>/`."""
    return f"{_portal_prefix()}{portal_token_make(debtor_id=debtor_id)}/"


def is_portal_url(url: str) -> bool:
    """True for a link `portal_url` made (its form, not its signature: see `portal_token_read`)."""
    prefix = _portal_prefix()
    token = url[len(prefix) :].rstrip("/")
    return url.startswith(prefix) and bool(token) and "/" not in token


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
