"""Claiming due messages for delivery: a claim token and a lease on each row.

`claim_due` takes a batch of due rows (`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so
concurrent dispatchers take disjoint batches), at most one per debtor: a partial unique index
allows one queued message per debtor, so two workers never pass the same debtor's frequency
caps at once. A claim holds for `lease()`; `messaging.services.delivery` takes back the claims
of a dispatcher that died once their lease runs out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef

from messaging.models import Message, MessageStatus

M = MessageStatus


def lease() -> timedelta:
    """How long a claim holds before another dispatcher may take the message back."""
    return timedelta(seconds=settings.MESSAGING_CLAIM_LEASE_SECONDS)


def debtor_busy() -> Exists:
    """True for a message whose debtor already has a queued (claimed) message."""
    return Exists(Message.objects.filter(debtor_id=OuterRef("debtor_id"), status=M.QUEUED))


def claim_fields(token: str, at: datetime) -> dict:
    """The column values of a message claimed with `token` at `at`."""
    return {
        "status": M.QUEUED,
        "claim": token,
        "claimed_until": at + lease(),
        "handoff_at": None,
        "status_changed_at": at,
        "updated_at": at,
    }


def claim_one(*, message_id: int, token: str, at: datetime) -> bool:
    """Claim one message if it is planned, due at `at` and its debtor has none queued."""
    try:
        with transaction.atomic():
            return bool(
                Message.objects.filter(pk=message_id, status=M.PLANNED, due_at__lte=at)
                .exclude(debtor_busy())
                .update(**claim_fields(token, at))
            )
    except IntegrityError:  # another message of this debtor was claimed meanwhile
        return False


def claim_due(*, at: datetime, limit: int) -> tuple[str, list[int]]:
    """Claim up to `limit` due messages (one per debtor); returns (claim token, ids)."""
    token = uuid.uuid4().hex
    ids: list[int] = []
    try:
        with transaction.atomic():
            qs = (
                Message.objects.filter(status=M.PLANNED, due_at__lte=at)
                .exclude(debtor_busy())
                .order_by("due_at", "id")
            )
            if connection.features.has_select_for_update_skip_locked:
                qs = qs.select_for_update(skip_locked=True)
            rows = list(qs.values_list("id", "debtor_id")[: limit * 2])
            ids = _one_per_debtor(rows, limit)
            if ids:
                Message.objects.filter(pk__in=ids, status=M.PLANNED).update(
                    **claim_fields(token, at)
                )
    except IntegrityError:
        # Another dispatcher claimed a message of one of these debtors at the same instant:
        # claim row by row, skipping the debtors that are taken.
        ids = _claim_rows(token, ids, at)
    return token, list(Message.objects.filter(claim=token, status=M.QUEUED).values_list(
        "id", flat=True))  # fmt: skip


def _one_per_debtor(rows: Iterable[tuple[int, int]], limit: int) -> list[int]:
    seen: set[int] = set()
    ids: list[int] = []
    for message_id, debtor_id in rows:
        if debtor_id in seen:
            continue
        seen.add(debtor_id)
        ids.append(message_id)
        if len(ids) >= limit:
            break
    return ids


def _claim_rows(token: str, ids: Sequence[int], at: datetime) -> list[int]:
    claimed = []
    for message_id in ids:
        try:
            with transaction.atomic():
                if (
                    Message.objects.filter(pk=message_id, status=M.PLANNED)
                    .exclude(debtor_busy())
                    .update(**claim_fields(token, at))
                ):
                    claimed.append(message_id)
        except IntegrityError:
            continue
    return claimed
