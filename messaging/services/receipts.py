"""Webhook receipts: a provider request acted on once, whatever number of times it arrives.

`webhook_receipt_claim` runs inside the caller's transaction, before the request's effects:
the receipt and the effects commit together or not at all (a request that fails half-way
leaves no receipt, so the provider's retry is acted on). On PostgreSQL a concurrent claim of
the same key waits for the first transaction and then sees it as a replay.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from django.db import IntegrityError, transaction

from messaging.models import WebhookReceipt

Claim = Literal["new", "replay", "conflict"]


def body_digest(body: bytes) -> str:
    """The SHA-256 of a request body, as stored in `WebhookReceipt.digest`."""
    return hashlib.sha256(body).hexdigest()


def webhook_receipt_claim(*, key: str, source: str, digest: str = "") -> Claim:
    """Claim the provider request named `key` (e.g. "twilio:inbound:<MessageSid>").

    "new": first time, act on it. "replay": already acted on (with the same body `digest`,
    when one is given): change nothing. "conflict": the key was acted on with another body,
    i.e. a forgery reusing a captured id or signature: refuse it. Must run in a transaction.
    """
    if not key:
        raise ValueError("a webhook receipt needs the provider's id")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("webhook_receipt_claim must run inside the request's transaction")
    try:
        with transaction.atomic():
            WebhookReceipt.objects.create(key=key[:200], source=source[:30], digest=digest)
    except IntegrityError:
        seen = WebhookReceipt.objects.filter(key=key[:200]).values_list("digest", flat=True)
        return "replay" if seen.first() == digest else "conflict"
    return "new"
