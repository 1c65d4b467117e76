"""Issuing, checking and revoking API keys (the only code that writes `ApiKey`)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.api_keys import lookup
from accounts.api_keys.models import ApiKey
from accounts.models import Creditor, CreditorUser

KEY_PREFIX = "ck_"
# ck_<8 hex: the public prefix>_<40 hex: the secret>
_KEY = re.compile(r"(ck_[0-9a-f]{8})_[0-9a-f]{40}\Z", re.ASCII)
# A former DRF token, migrated as it was: 40 hex digits when DRF made it; anything visible up
# to 40 characters is looked up, so a token someone set by hand keeps working too.
_LEGACY = re.compile(r"[\x21-\x7e]{1,40}\Z", re.ASCII)
LEGACY_PREFIX_LENGTH = 8
# `last_used_at` is written at most this often per key, never once per request.
LAST_USED_EVERY = timedelta(minutes=1)
NAME_MAX_LENGTH = ApiKey._meta.get_field("name").max_length


class ApiKeyError(ValueError):
    """A key cannot be issued as asked (the message says why)."""


class ApiKeyRefused(Exception):
    """The key presented is not accepted (the message is what the client is told)."""


INVALID = "Invalid API key."


def key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def prefix_of(raw: str) -> str | None:
    """The prefix to look a presented key up by, or None when it cannot be a key at all."""
    match = _KEY.match(raw)
    if match:
        return match.group(1)
    if raw.startswith(KEY_PREFIX) or not _LEGACY.match(raw):
        return None
    return raw[:LEGACY_PREFIX_LENGTH]


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ApiKeyError("Give the key a name, e.g. “nightly sync (production)”.")
    if len(name) > NAME_MAX_LENGTH:
        raise ApiKeyError(f"A key's name has at most {NAME_MAX_LENGTH} characters.")
    if any(unicodedata.category(ch) in {"Cc", "Cs"} for ch in name):
        raise ApiKeyError("A key's name must not contain control characters.")
    return name


def check_expiry(expires_at: datetime | None, *, now: datetime | None = None) -> None:
    if expires_at is not None and expires_at <= (now or timezone.now()):
        raise ApiKeyError("The expiry must be in the future (leave it empty for no expiry).")


@transaction.atomic
def api_key_issue(
    *,
    user,
    name: str,
    expires_at: datetime | None = None,
    actor: str = "",
    key: ApiKey | None = None,
) -> tuple[ApiKey, str]:
    """A new key for `user`, and the key itself: the only time it exists outside the client.

    `key` is an unsaved instance to fill (the admin's); by default a new one.
    """
    now = timezone.now()
    name = _clean_name(name)
    check_expiry(expires_at, now=now)
    key = key if key is not None else ApiKey()
    for _ in range(5):
        prefix = f"{KEY_PREFIX}{secrets.token_hex(4)}"
        plaintext = f"{prefix}_{secrets.token_hex(20)}"
        key.pk = None
        key.user = user
        key.name = name
        key.prefix = prefix
        key.key_hash = key_hash(plaintext)
        key.created_at = now
        key.created_by = actor[:100]
        key.expires_at = expires_at
        try:
            with transaction.atomic():
                key.save(force_insert=True)
        except IntegrityError:  # another key has this prefix (1 in 4 billion): draw again
            continue
        return key, plaintext
    raise ApiKeyError("Could not draw an unused key prefix; try again.")


def api_key_revoke(*, key: ApiKey, actor: str) -> bool:
    """Revoke `key` at once; False when it already was."""
    now = timezone.now()
    done = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=actor[:100]
    )
    if done:
        key.revoked_at, key.revoked_by = now, actor[:100]
    return bool(done)


def api_key_check(raw: str, *, now: datetime | None = None) -> ApiKey:
    """The key `raw` is, with its user and creditor loaded, or `ApiKeyRefused`.

    Looked up by its prefix, then compared by hash in constant time. Whether a key was revoked
    or expired is told only to whoever holds the whole key.
    """
    prefix = prefix_of(raw)
    if prefix is None:
        raise ApiKeyRefused(INVALID)
    digest = key_hash(raw)
    found = None
    # Every request runs this query (`filter(prefix=...)` with the user, its creditor link
    # and the creditor), in SQL written once rather than compiled each time (`lookup`).
    for candidate in lookup.keys_with_prefix(prefix):
        if hmac.compare_digest(candidate.key_hash, digest):
            found = candidate
    if found is None:
        raise ApiKeyRefused(INVALID)
    now = now or timezone.now()
    if found.revoked_at is not None:
        raise ApiKeyRefused(
            f"This API key was revoked on {found.revoked_at:%Y-%m-%d}; use another of your "
            "keys, or ask for a new one."
        )
    if found.expires_at is not None and found.expires_at <= now:
        expired = found.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise ApiKeyRefused(
            f"This API key expired at {expired}; use another of your keys, or ask for a new one."
        )
    if not found.user.is_active:
        raise ApiKeyRefused("This API key's user is inactive.")
    _mark_used(found, now)
    return found


def _mark_used(key: ApiKey, now: datetime) -> None:
    """`last_used_at`, at most once a minute: most requests see a fresh value and write
    nothing; of several workers that see it stale at once, only one row update matches."""
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_EVERY:
        return
    ApiKey.objects.filter(pk=key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_EVERY)
    ).update(last_used_at=now)
    key.last_used_at = now


def api_user_for(*, creditor: Creditor, username: str | None = None):
    """The API user a new key of `creditor` acts as.

    `username`: that user, who must be bound to `creditor`. Otherwise the creditor's first
    active API user (bound to it, neither staff nor superuser), created as `<slug>-api` when
    it has none.
    """
    users = get_user_model().objects
    if username:
        user = users.filter(username=username).first()
        link = getattr(user, "creditor_link", None) if user is not None else None
        if link is None or link.creditor_id != creditor.pk:
            raise ApiKeyError(f"No user {username!r} is bound to creditor {creditor.slug!r}.")
        return user
    link = (
        CreditorUser.objects.filter(
            creditor=creditor,
            user__is_active=True,
            user__is_staff=False,
            user__is_superuser=False,
        )
        .select_related("user")
        .order_by("user_id")
        .first()
    )
    if link is not None:
        return link.user
    username = f"{creditor.slug}-api"
    if users.filter(username=username).exists():
        raise ApiKeyError(
            f"Creditor {creditor.slug!r} has no API user, and the user {username!r} that would "
            "be made for it exists already: bind an API user to the creditor first."
        )
    with transaction.atomic():
        user = users.create_user(username)  # no password: it signs in with keys only
        CreditorUser.objects.create(user=user, creditor=creditor)
    return user
