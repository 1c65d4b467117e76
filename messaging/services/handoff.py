"""Handing claimed messages to their channel backend and recording what happened.

The hand-off mark (`handoff_at`) is committed just before the backend is called: per message
for backends that are not idempotent (SMTP, Twilio), per chunk for idempotent ones (files).
`record_sent` then marks them `sent` with the provider id, the timeline entry and the contact
ledger entry in one transaction. A backend error retries the message with a back-off, or fails
it when the error is permanent or the attempts run out. See `messaging.services.delivery` for
why each step makes a crash safe.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.bulk import bulk_insert, bulk_update_by_pk
from accounts.models import Activity, ActivityKind
from accounts.transitions import transition_save
from compliance import services as compliance
from compliance.selectors import ruleset_current
from messaging.backends import BackendError, ChannelBackend, HandOff
from messaging.models import Message, MessageStatus, channel_label
from messaging.outbound import outbound_for
from messaging.selectors import sent_local
from messaging.services.claims import lease

logger = logging.getLogger(__name__)

M = MessageStatus
MAX_ATTEMPTS = 5
HANDOFF_UNCONFIRMED = "handoff_unconfirmed"
"""How the reason of a message failed after an unconfirmable hand-off begins."""
_RETRY_BACKOFF = (60, 300, 900, 3600)  # seconds before the 2nd, 3rd, ... attempt
_RECORD_CHUNK = 500


@dataclass
class DispatchResult:
    """What one dispatch run did (counts of messages)."""

    claimed: int = 0
    sent: int = 0
    rescheduled: int = 0
    cancelled: int = 0
    failed: int = 0
    retried: int = 0
    released: int = 0
    reconciled: int = 0

    def describe(self) -> str:
        """One line for the task result and the command, e.g. `claimed=3 sent=3 ...`."""
        return (
            f"claimed={self.claimed} sent={self.sent} rescheduled={self.rescheduled} "
            f"cancelled={self.cancelled} failed={self.failed} retried={self.retried} "
            f"released={self.released}"
        )


STATE_FIELDS = Message.STATE_FIELDS


def activity_row(
    message: Message, kind: str, summary: str, *, at: datetime, data=None, actor: str = "system"
) -> Activity:
    """The timeline row of something that happened to `message` (not saved yet), from the
    message's own ids: no read of its debtor or account."""
    return Activity(
        creditor_id=message.creditor_id,
        debtor_id=message.debtor_id,
        account_id=message.account_id,
        kind=kind,
        summary=summary[:300],
        data={"message_id": message.pk, "channel": message.channel, **(data or {})},
        actor=actor[:100],
        occurred_at=at,
    )


def finish(
    message: Message, status: str, reason: str, *, at: datetime, kind: str, data=None
) -> None:
    """Move a claimed message to a final state with its timeline entry."""
    label = channel_label(message.channel)
    transition_save(
        message,
        status,
        reason=reason,
        at=at,
        audit=lambda _old: activity_row(
            message, kind, f"{label} message {status}: {reason}", at=at, data=data
        ),
    )


def hand_over(
    backend: ChannelBackend,
    token: str,
    messages: list[Message],
    *,
    at: datetime,
    result: DispatchResult,
) -> None:
    """Hand claimed `messages` of one channel to its `backend` and record those it took."""
    try:
        backend.open()
    except BackendError as exc:
        for message in messages:
            retry_or_fail(message, str(exc), at=at, result=result, permanent=exc.permanent)
        return
    try:
        if backend.idempotent:
            for start in range(0, len(messages), _RECORD_CHUNK):
                chunk = messages[start : start + _RECORD_CHUNK]
                _hand_over_chunk(backend, token, chunk, at=at, result=result)
        else:
            for message in messages:
                _hand_over_chunk(backend, token, [message], at=at, result=result)
    finally:
        backend.close()


def _hand_over_chunk(
    backend: ChannelBackend,
    token: str,
    messages: list[Message],
    *,
    at: datetime,
    result: DispatchResult,
) -> None:
    # The hand-off mark, committed before the backend is called; it also renews the lease.
    # Only rows still held by this claim are marked, and only marked rows are handed over.
    mark = timezone.now()
    pks = [m.pk for m in messages]
    Message.objects.filter(pk__in=pks, claim=token, status=M.QUEUED).update(
        handoff_at=mark, claimed_until=mark + lease()
    )
    marked = set(
        Message.objects.filter(pk__in=pks, claim=token, handoff_at=mark).values_list(
            "pk", flat=True
        )
    )
    done: list[tuple[Message, HandOff]] = []
    for message in messages:
        if message.pk not in marked:
            continue  # the lease was lost to another dispatcher
        message.handoff_at = mark
        try:
            handoff = backend.send(outbound_for(message))
        except BackendError as exc:
            if exc.uncertain:
                logger.warning("hand-off uncertain: message=%s error=%s", message.pk, exc)
                continue  # left queued with handoff_at: reconciled when the lease expires
            retry_or_fail(message, str(exc), at=at, result=result, permanent=exc.permanent)
            continue
        done.append((message, handoff))
    if done:
        result.sent += record_sent(token, done, at=at)


def record_sent(token: str | None, done: list[tuple[Message, HandOff]], *, at: datetime) -> int:
    """Mark handed-over messages sent, with timeline entries and the contact ledger."""
    now = timezone.now()
    with transaction.atomic():
        qs = Message.objects.filter(pk__in=[m.pk for m, _ in done], status=M.QUEUED)
        if token is not None:
            qs = qs.filter(claim=token)
        if connection.features.has_select_for_update:
            qs = qs.select_for_update()
        held = set(qs.values_list("pk", flat=True))
        done = [(m, h) for m, h in done if m.pk in held]
        if not done:
            return 0
        # One UPDATE per provider and local send time: every message of the batch is sent at
        # `now`, so its debtor's zone alone decides its local weekday and hour.
        groups: dict[tuple[str, int, int], list[int]] = defaultdict(list)
        rules = ruleset_current()
        for message, handoff in done:
            weekday, hour = sent_local(message.debtor, now, rules=rules)
            groups[(handoff.provider, weekday, hour)].append(message.pk)
            message.status, message.sent_at = M.SENT, now
            message.sent_local_weekday, message.sent_local_hour = weekday, hour
            message.provider, message.provider_id = handoff.provider, handoff.provider_id[:200]
        for (provider, weekday, hour), pks in groups.items():
            Message.objects.filter(pk__in=pks).update(
                status=M.SENT,
                status_reason="",
                status_changed_at=now,
                updated_at=now,
                claim="",
                claimed_until=None,
                sent_at=now,
                sent_local_weekday=weekday,
                sent_local_hour=hour,
                provider=provider,
                attempts=F("attempts") + 1,
            )
        bulk_update_by_pk(Message, [m for m, _ in done], ["provider_id"])
        bulk_insert(
            Activity,
            [
                activity_row(
                    m,
                    ActivityKind.MESSAGE_SENT,
                    f"{channel_label(m.channel)} message sent ({h.provider}).",
                    at=now,
                    data={"variant_id": m.variant_id, "revision_id": m.variant_revision_id},
                )
                for m, h in done
            ],
        )
        ledger_record([m for m, _ in done], at=now)
    return len(done)


def ledger_record(messages: list[Message], *, at: datetime) -> None:
    """Tell the compliance ledger about each hand-off (outcome "delivered" until a provider
    says otherwise); idempotent by the `message:<id>` reference."""
    contacts = [
        {
            "debtor": m.debtor,
            "channel": m.channel,
            "at": at,
            "outcome": "delivered",
            "source": "message",
            "account": m.account,
            "reference": f"message:{m.pk}",
        }
        for m in messages
    ]
    compliance.contacts_record_many(contacts=contacts)


def retry_or_fail(
    message: Message, error: str, *, at: datetime, result: DispatchResult, permanent: bool
) -> None:
    attempts = message.attempts + 1
    if permanent or attempts >= MAX_ATTEMPTS:
        message.attempts = attempts
        transition_save(
            message,
            M.FAILED,
            reason=error,
            at=at,
            fields=("attempts",),
            audit=lambda _old: activity_row(
                message,
                ActivityKind.MESSAGE_FAILED,
                f"{channel_label(message.channel)} message failed: {error}",
                at=at,
                data={"attempts": attempts},
            ),
        )
        result.failed += 1
        return
    backoff = _RETRY_BACKOFF[min(attempts - 1, len(_RETRY_BACKOFF) - 1)]
    message.attempts = attempts
    message.transition(M.PLANNED, reason=f"Retry {attempts}: {error}", at=at)
    message.due_at = at + timedelta(seconds=backoff)
    message.save(update_fields=[*STATE_FIELDS, "attempts", "due_at"])
    result.retried += 1
