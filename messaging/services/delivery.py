"""Delivery: hand due messages to their channel backends exactly once.

States and why they make a crash safe (see docs/messaging.md):

1. *claim*: `planned` -> `queued` with a claim token and a lease (`claimed_until`), for a
   batch of due rows locked with `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so
   concurrent dispatchers take disjoint batches. At most one queued message per debtor (a
   partial unique index), so two workers never pass the same debtor's frequency caps at once.
2. *re-check*: account, flags and `compliance.contacts_check_many` at the moment of delivery.
   Blocked messages go back to `planned` at `next_allowed_at` (rescheduled) or are `cancelled`
   with the audited reasons.
3. *hand-off mark*: `handoff_at` is committed just before the backend is called, per message
   for backends that are not idempotent (SMTP, Twilio), per batch for idempotent ones (files).
4. *record*: `sent`, the provider id, the timeline entry and `compliance.contact_record`, in
   one transaction.

A dispatcher killed after 1 and before 3 leaves `queued` rows without `handoff_at`: when the
lease expires they go back to `planned` (never lost). Killed between 3 and 4, the hand-off is
unknown: the backend's `reconcile` decides; if it cannot tell, an idempotent backend hands
over again (harmless) and any other backend fails the message with `handoff_unconfirmed`
(an operator decides) — it is never sent twice. It may have gone out, so it counts in the
contact ledger (as delivered, at hand-off time) until a provider event says it failed.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from accounts.bulk import bulk_insert
from accounts.models import Activity, ActivityKind, Creditor
from accounts.statistics import table_analyze
from accounts.transitions import transition_save
from compliance import services as compliance
from messaging.backends import BackendError, ChannelBackend, HandOff, backend_for
from messaging.models import Message, MessageStatus, MessageVariant, channel_label
from messaging.outbound import outbound_for
from messaging.services.sending import precheck

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


def _lease() -> timedelta:
    return timedelta(seconds=settings.MESSAGING_CLAIM_LEASE_SECONDS)


# --- entry points ----------------------------------------------------------------------------


def dispatch_due(
    *, now: datetime | None = None, batch_size: int | None = None, max_batches: int | None = None
) -> DispatchResult:
    """Hand every due message to its backend, batch by batch, until none is due.

    Safe to run in several workers at once and to kill at any point; run by the
    `messaging.dispatch_due` schedule every minute. `now` fixes the clock (tests, benchmarks).
    """
    result = DispatchResult()
    size = batch_size or settings.MESSAGING_DISPATCH_BATCH
    batches = 0
    while max_batches is None or batches < max_batches:
        at = now or timezone.now()
        # Before each batch, not only when the run starts: a run draining a backlog longer
        # than the lease takes back a dead dispatcher's claims as soon as their lease runs
        # out, instead of leaving them until the backlog is gone and another run starts.
        _recover_expired(now=at, result=result)
        token, ids = _claim(at=at, limit=size)
        if not ids:
            break
        result.claimed += len(ids)
        _deliver_claimed(token, ids, at=at, result=result)
        batches += 1
    return result


def message_deliver(*, message_id: int, now: datetime | None = None) -> DispatchResult:
    """Deliver one message now if it is planned and due (the task enqueued by message_send)."""
    at = now or timezone.now()
    result = DispatchResult()
    token = uuid.uuid4().hex
    try:
        with transaction.atomic():
            claimed = (
                Message.objects.filter(pk=message_id, status=M.PLANNED, due_at__lte=at)
                .exclude(_debtor_busy())
                .update(**_claim_fields(token, at))
            )
    except IntegrityError:  # another message of this debtor was claimed meanwhile
        claimed = 0
    if claimed:
        result.claimed = 1
        _deliver_claimed(token, [message_id], at=at, result=result)
    return result


OUTBOX_STATISTICS_COLUMNS = ("status", "due_at", "planned_at", "account_id", "debtor_id")
"""The outbox columns the claim and the planner's reads filter on."""


def outbox_statistics_refresh(*, when_stale: bool = False) -> bool:
    """Refresh PostgreSQL's statistics of the outbox columns the claim and the planner filter
    on (`OUTBOX_STATISTICS_COLUMNS`); with `when_stale=True` only once the outbox has doubled
    in size since the last analyze (`accounts.statistics.table_analyze`). True if it ran.

    The planner calls this after each batch (`when_stale`) and after writing many messages at
    once. Without statistics for `account_id`, PostgreSQL expects `account_id IN (1,000 ids)`
    to match every row and reads the whole outbox for each batch of the planner. With
    statistics taken before a big run, it estimates a few hundred due rows, so the claim reads
    every due row and sorts them for each batch instead of walking `message_due` in order:
    with 100,000 messages due, one claim took 0.3-0.5 s instead of 0.05 s
    (docs/benchmarks.md). Only these columns are sampled: about 0.3 s on 100,000 rows, against
    2 s for the whole table and its rendered content; the refreshes during a run (`when_stale`)
    take a tenth of the sample (statistics target 10: 0.02 s), enough for the planner's
    estimates until the run's final refresh.
    """
    return table_analyze(
        Message, OUTBOX_STATISTICS_COLUMNS, when_stale=when_stale, target=10 if when_stale else None
    )


# --- claiming --------------------------------------------------------------------------------


def _debtor_busy() -> Exists:
    return Exists(Message.objects.filter(debtor_id=OuterRef("debtor_id"), status=M.QUEUED))


def _claim_fields(token: str, at: datetime) -> dict:
    return {
        "status": M.QUEUED,
        "claim": token,
        "claimed_until": at + _lease(),
        "handoff_at": None,
        "status_changed_at": at,
        "updated_at": at,
    }


def _claim(*, at: datetime, limit: int) -> tuple[str, list[int]]:
    """Claim up to `limit` due messages (one per debtor); returns (claim token, ids)."""
    token = uuid.uuid4().hex
    ids: list[int] = []
    try:
        with transaction.atomic():
            qs = (
                Message.objects.filter(status=M.PLANNED, due_at__lte=at)
                .exclude(_debtor_busy())
                .order_by("due_at", "id")
            )
            if connection.features.has_select_for_update_skip_locked:
                qs = qs.select_for_update(skip_locked=True)
            rows = list(qs.values_list("id", "debtor_id")[: limit * 2])
            ids = _one_per_debtor(rows, limit)
            if ids:
                Message.objects.filter(pk__in=ids, status=M.PLANNED).update(
                    **_claim_fields(token, at)
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
                    .exclude(_debtor_busy())
                    .update(**_claim_fields(token, at))
                ):
                    claimed.append(message_id)
        except IntegrityError:
            continue
    return claimed


# --- delivering a claimed batch --------------------------------------------------------------


def _deliver_claimed(token: str, ids: Sequence[int], *, at: datetime, result: DispatchResult):
    messages = _load(Message.objects.filter(pk__in=ids, claim=token, status=M.QUEUED))
    live = set(
        MessageVariant.objects.filter(
            pk__in={m.variant_id for m in messages}, live=True
        ).values_list("pk", flat=True)
    )
    ready: list[Message] = []
    for message in messages:
        problem = _delivery_precheck(message, variant_live=message.variant_id in live)
        if problem:
            _finish(message, M.CANCELLED, problem, at=at, kind=ActivityKind.MESSAGE_CANCELLED)
            result.cancelled += 1
        else:
            ready.append(message)
    if not ready:
        return
    checks = compliance.contacts_check_many(
        checks=[
            compliance.CheckRequest(
                debtor=m.debtor, channel=m.channel, at=at, account=m.account, purpose="deliver"
            )
            for m in ready
        ]
    )
    allowed: dict[str, list[Message]] = defaultdict(list)
    for message, check in zip(ready, checks, strict=True):
        if check.allowed:
            allowed[message.channel].append(message)
        else:
            _compliance_block(message, check, at=at, result=result)
    for channel, group in allowed.items():
        _hand_over(backend_for(channel), token, group, at=at, result=result)


_NOT_READ = (
    "explanation",
    "disclosures",
    "model_version",
    "decision_id",
    "propensity",
    "created_at",
    "delivered_at",
    "opened_at",
    "clicked_at",
    "converted_at",
)


def _load(queryset) -> list[Message]:
    """Messages with their debtor, account and creditor (shared objects, no query each)."""
    # Fields dispatch never reads are left out (JSON parsing and model set-up dominate here).
    messages = list(queryset.select_related("debtor", "account").defer(*_NOT_READ))
    creditors = {c.pk: c for c in Creditor.objects.filter(pk__in={m.creditor_id for m in messages})}
    for message in messages:
        message.account.debtor = message.debtor
        message.account.creditor = creditors[message.creditor_id]
    return messages


def _delivery_precheck(message: Message, *, variant_live: bool) -> str:
    if not variant_live:
        return "The variant was withdrawn (unpublished) after the message was planned."
    problem = precheck(account=message.account, channel=message.channel, stage=message.stage)
    return problem[1] if problem else ""


def _compliance_block(message: Message, check, *, at: datetime, result: DispatchResult) -> None:
    reasons = "; ".join(r["message"] for r in check.reasons) or "Blocked by compliance."
    data = {"reasons": [r["code"] for r in check.reasons], "decision_id": check.decision_id}
    latest = message.planned_at + timedelta(hours=settings.MESSAGING_MAX_DELAY_HOURS)
    if check.next_allowed_at is not None and check.next_allowed_at > latest:
        # Moved that far, the message would no longer fit the moment it was planned for.
        reasons = (
            f"The next allowed time is more than {settings.MESSAGING_MAX_DELAY_HOURS} hours "
            f"after the planned one. {reasons}"
        )
        _finish(message, M.CANCELLED, reasons, at=at, kind=ActivityKind.MESSAGE_CANCELLED,
                data={**data, "next_allowed_at": check.next_allowed_at.isoformat()})  # fmt: skip
        result.cancelled += 1
        return
    if check.next_allowed_at is not None:
        message.due_at = check.next_allowed_at
        transition_save(
            message,
            M.PLANNED,
            reason=reasons,
            at=at,
            fields=("due_at",),
            audit=lambda _old: _activity(
                message,
                ActivityKind.MESSAGE_RESCHEDULED,
                f"{channel_label(message.channel)} message rescheduled to "
                f"{check.next_allowed_at:%Y-%m-%d %H:%M} UTC: {reasons}",
                at=at,
                data={**data, "due_at": check.next_allowed_at.isoformat()},
            ),
        )
        result.rescheduled += 1
    else:
        _finish(message, M.CANCELLED, reasons, at=at, kind=ActivityKind.MESSAGE_CANCELLED,
                data=data)  # fmt: skip
        result.cancelled += 1


_STATE_FIELDS = Message.STATE_FIELDS


def _activity(message: Message, kind: str, summary: str, *, at: datetime, data=None) -> Activity:
    return Activity(
        creditor_id=message.creditor_id,
        debtor_id=message.debtor_id,
        account_id=message.account_id,
        kind=kind,
        summary=summary[:300],
        data={"message_id": message.pk, "channel": message.channel, **(data or {})},
        actor="system",
        occurred_at=at,
    )


def _finish(
    message: Message, status: str, reason: str, *, at: datetime, kind: str, data=None
) -> None:
    """Move a claimed message to a final state with its timeline entry."""
    label = channel_label(message.channel)
    transition_save(
        message,
        status,
        reason=reason,
        at=at,
        audit=lambda _old: _activity(
            message, kind, f"{label} message {status}: {reason}", at=at, data=data
        ),
    )


def _hand_over(
    backend: ChannelBackend,
    token: str,
    messages: list[Message],
    *,
    at: datetime,
    result: DispatchResult,
) -> None:
    try:
        backend.open()
    except BackendError as exc:
        for message in messages:
            _retry_or_fail(message, str(exc), at=at, result=result, permanent=exc.permanent)
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
        handoff_at=mark, claimed_until=mark + _lease()
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
            _retry_or_fail(message, str(exc), at=at, result=result, permanent=exc.permanent)
            continue
        done.append((message, handoff))
    if done:
        result.sent += _record_sent(token, done, at=at)


def _record_sent(token: str | None, done: list[tuple[Message, HandOff]], *, at: datetime) -> int:
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
        by_provider: dict[str, list[int]] = defaultdict(list)
        for message, handoff in done:
            by_provider[handoff.provider].append(message.pk)
            message.status, message.sent_at = M.SENT, now
            message.provider, message.provider_id = handoff.provider, handoff.provider_id[:200]
        for provider, pks in by_provider.items():
            Message.objects.filter(pk__in=pks).update(
                status=M.SENT,
                status_reason="",
                status_changed_at=now,
                updated_at=now,
                claim="",
                claimed_until=None,
                sent_at=now,
                provider=provider,
                attempts=F("attempts") + 1,
            )
        _provider_ids_save([m for m, _ in done])
        bulk_insert(
            Activity,
            [
                _activity(
                    m,
                    ActivityKind.MESSAGE_SENT,
                    f"{channel_label(m.channel)} message sent ({h.provider}).",
                    at=now,
                    data={"variant_id": m.variant_id, "revision_id": m.variant_revision_id},
                )
                for m, h in done
            ],
        )
        _ledger_record([m for m, _ in done], at=now)
    return len(done)


def _provider_ids_save(messages: list[Message]) -> None:
    """Store each message's provider id: one UPDATE ... FROM (VALUES ...) on PostgreSQL."""
    if connection.vendor != "postgresql":
        Message.objects.bulk_update(messages, ["provider_id"], batch_size=500)
        return
    table = connection.ops.quote_name(Message._meta.db_table)
    for start in range(0, len(messages), 1000):
        chunk = messages[start : start + 1000]
        values = ", ".join(["(%s::bigint, %s)"] * len(chunk))
        params: list = []
        for message in chunk:
            params += [message.pk, message.provider_id]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS m SET provider_id = v.pid FROM (VALUES {values}) "  # noqa: S608 (quoted table name, values are parameters)
                "AS v(id, pid) WHERE m.id = v.id",
                params,
            )


def _ledger_record(messages: list[Message], *, at: datetime) -> None:
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


def _retry_or_fail(
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
            audit=lambda _old: _activity(
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
    message.save(update_fields=[*_STATE_FIELDS, "attempts", "due_at"])
    result.retried += 1


# --- crash recovery --------------------------------------------------------------------------


def _recover_expired(*, now: datetime, result: DispatchResult) -> None:
    """Take back claims whose lease ran out (their dispatcher died)."""
    # Never handed over: simply due again.
    result.released += Message.objects.filter(
        status=M.QUEUED, claimed_until__lt=now, handoff_at__isnull=True
    ).update(status=M.PLANNED, claim="", claimed_until=None, status_changed_at=now, updated_at=now)
    # Handed over, outcome unknown: ask the backend.
    stuck = list(
        Message.objects.filter(
            status=M.QUEUED, claimed_until__lt=now, handoff_at__isnull=False
        ).values_list("pk", "claim")
    )
    for message_id, old_claim in stuck:
        token = uuid.uuid4().hex
        # Compare-and-set: only one dispatcher reconciles a message.
        if not Message.objects.filter(pk=message_id, claim=old_claim, status=M.QUEUED).update(
            claim=token, claimed_until=now + _lease()
        ):
            continue
        (message,) = _load(Message.objects.filter(pk=message_id))
        _reconcile(message, token, now=now, result=result)


def _reconcile(message: Message, token: str, *, now: datetime, result: DispatchResult) -> None:
    backend = backend_for(message.channel)
    answer = backend.reconcile(outbound_for(message))
    result.reconciled += 1
    if answer is not None and not isinstance(answer, bool):  # a receipt (HandOff-like)
        result.sent += _record_sent(token, [(message, answer)], at=now)
    elif answer is False or backend.idempotent:
        # Certainly not handed over, or handing over again is harmless: due again now.
        Message.objects.filter(pk=message.pk, claim=token).update(
            status=M.PLANNED,
            claim="",
            claimed_until=None,
            handoff_at=None,
            status_changed_at=now,
            updated_at=now,
        )
        result.released += 1
    else:
        logger.error("hand-off unconfirmed, not repeated: message=%s", message.pk)
        handed_at = message.handoff_at or now
        with transaction.atomic():
            _finish(
                message,
                M.FAILED,
                f"{HANDOFF_UNCONFIRMED}: the dispatcher stopped during hand-off and the "
                "provider cannot confirm it; not sent again automatically.",
                at=now,
                kind=ActivityKind.MESSAGE_FAILED,
            )
            # It may well have gone out: frequency caps count it (the safe side), under the
            # message's reference, so a later provider event updates this entry.
            _ledger_record([message], at=handed_at)
        result.failed += 1
