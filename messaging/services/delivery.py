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

Modules: `claims` (claim and lease), `handoff` (hand-off mark, backend call, record), this
one (the runs, the re-check before hand-off, crash recovery).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import ActivityKind, Creditor
from accounts.statistics import table_analyze
from accounts.transitions import transition_save
from compliance import services as compliance
from messaging.backends import backend_for
from messaging.models import Message, MessageStatus, MessageVariant, channel_label
from messaging.outbound import outbound_for
from messaging.services.claims import claim_due, claim_one, lease
from messaging.services.handoff import (
    HANDOFF_UNCONFIRMED,
    DispatchResult,
    activity_row,
    finish,
    hand_over,
    ledger_record,
    record_sent,
)
from messaging.services.sending import precheck

logger = logging.getLogger(__name__)

M = MessageStatus

__all__ = ["DispatchResult", "dispatch_due", "message_deliver", "outbox_statistics_refresh"]


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
        token, ids = claim_due(at=at, limit=size)
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
    if claim_one(message_id=message_id, token=token, at=at):
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
    every due row and sorts them for each batch instead of walking `message_due` in order,
    several times slower (docs/benchmarks.md, Messaging). Only these columns are sampled, far
    cheaper than the whole table with its rendered content; the refreshes during a run
    (`when_stale`) take a tenth of the sample (statistics target 10), enough for the
    planner's estimates until the run's final refresh.
    """
    return table_analyze(
        Message, OUTBOX_STATISTICS_COLUMNS, when_stale=when_stale, target=10 if when_stale else None
    )


# --- delivering a claimed batch --------------------------------------------------------------


def _deliver_claimed(token: str, ids: Sequence[int], *, at: datetime, result: DispatchResult):
    messages = _load(Message.objects.filter(pk__in=ids, claim=token, status=M.QUEUED))
    live = dict(  # the live variants' calls to action, by id
        MessageVariant.objects.filter(
            pk__in={m.variant_id for m in messages}, live=True
        ).values_list("pk", "cta")
    )
    ready: list[Message] = []
    for message in messages:
        problem = _delivery_precheck(message, cta=live.get(message.variant_id))
        if problem:
            finish(message, M.CANCELLED, problem, at=at, kind=ActivityKind.MESSAGE_CANCELLED)
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
        hand_over(backend_for(channel), token, group, at=at, result=result)


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


def _delivery_precheck(message: Message, *, cta: str | None) -> str:
    """Why `message` must not go now ("" when it may); `cta` is its variant's call to action,
    None when the variant is no longer live."""
    if cta is None:
        return "The variant was withdrawn (unpublished) after the message was planned."
    problem = precheck(
        account=message.account, channel=message.channel, stage=message.stage, cta=cta
    )
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
        finish(message, M.CANCELLED, reasons, at=at, kind=ActivityKind.MESSAGE_CANCELLED,
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
            audit=lambda _old: activity_row(
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
        finish(message, M.CANCELLED, reasons, at=at, kind=ActivityKind.MESSAGE_CANCELLED,
                data=data)  # fmt: skip
        result.cancelled += 1


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
            claim=token, claimed_until=now + lease()
        ):
            continue
        (message,) = _load(Message.objects.filter(pk=message_id))
        _reconcile(message, token, now=now, result=result)


def _reconcile(message: Message, token: str, *, now: datetime, result: DispatchResult) -> None:
    backend = backend_for(message.channel)
    answer = backend.reconcile(outbound_for(message))
    result.reconciled += 1
    if answer is not None and not isinstance(answer, bool):  # a receipt (HandOff-like)
        result.sent += record_sent(token, [(message, answer)], at=now)
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
            finish(
                message,
                M.FAILED,
                f"{HANDOFF_UNCONFIRMED}: the dispatcher stopped during hand-off and the "
                "provider cannot confirm it; not sent again automatically.",
                at=now,
                kind=ActivityKind.MESSAGE_FAILED,
            )
            # It may well have gone out: frequency caps count it (the safe side), under the
            # message's reference, so a later provider event updates this entry.
            ledger_record([message], at=handed_at)
        result.failed += 1
