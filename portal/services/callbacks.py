"""The call-backs queue's steps: assign, ask compliance whether a call is allowed now, log the
call's outcome, and follow promises to pay up.

- `callback_assign`: give the call back to a staff user (or nobody), on the timeline.
- `callback_call_check`: `compliance.services.contact_check` for the call channel at this
  moment (audited; `audit=False` for lists): the hours, holidays, caps, quiet periods and
  flags of the debtor's region, in the debtor's local time.
- `callback_outcome_log`: the call happened; its outcome (no answer, voicemail, conversation,
  promise to pay with amount and date) goes into the contact ledger through
  `compliance.services.contact_record`, so the caps count it, with its `contact_recorded`
  timeline entry; the call back is done. A promise is recorded on it, waiting for its date.
- `promises_check` (daily, `portal.tasks.promises_check`): each promise whose date plus
  `PORTAL_PROMISE_GRACE_DAYS` has passed on the debtor's calendar is kept when the account
  received at least the promised amount since the promise, else broken; either way a timeline
  entry, and a broken promise books a follow-up call back (the next morning window on the
  debtor's calendar) into the queue, unless one is already open.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import ActivityKind, Channel, DomainError, Payment, PaymentStatus
from accounts.services import activity_record
from compliance import services as compliance
from portal.models import (
    CALL_LEDGER_OUTCOME,
    CALLBACK_HOURS,
    CallbackRequest,
    CallbackStatus,
    CallbackWindow,
    CallOutcome,
    PromiseStatus,
)
from portal.selectors import debtor_today, debtor_zone

# How far ahead a promise to pay may be dated.
PROMISE_MAX_DAYS = 60


class CallbackError(DomainError):
    """The outcome cannot be logged as given; `field` names the form field it concerns."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


def _lock(callback: CallbackRequest | int) -> CallbackRequest:
    pk = callback if isinstance(callback, int) else callback.pk
    return (
        CallbackRequest.objects.select_for_update(of=("self",))
        .select_related("debtor", "account")
        .get(pk=pk)
    )


def callback_assign(*, callback: CallbackRequest | int, user, actor: str) -> CallbackRequest:
    """Assign the call back to staff `user` (None: unassigned), with its timeline entry."""
    with transaction.atomic():
        locked = _lock(callback)
        if locked.status == CallbackStatus.DONE:
            raise DomainError("This call back is done: there is nothing left to assign.")
        user_id = user.pk if user is not None else None
        if locked.assigned_to_id == user_id:
            return locked
        locked.assigned_to = user
        locked.save(update_fields=["assigned_to"])
        who = user.get_username() if user is not None else "nobody"
        activity_record(
            debtor=locked.debtor,
            account=locked.account,
            kind=ActivityKind.ADMIN_CHANGE,
            summary=f"Call back {locked.pk} assigned to {who}.",
            data={"callback_id": locked.pk, "assigned_to": user_id},
            actor=actor,
        )
    return locked


def callback_call_check(
    *, callback: CallbackRequest, at: datetime | None = None, audit: bool = True
) -> compliance.CheckResult:
    """May the debtor be called now (or at `at`)? The compliance engine's answer for the call
    channel on the call back's account, with its reasons and the next allowed moment."""
    request = compliance.CheckRequest(
        debtor=callback.debtor,
        channel=Channel.CALL,
        at=at or timezone.now(),
        account=callback.account,
        purpose="callback",
    )
    return compliance.contacts_check_many(checks=[request], audit=audit)[0]


def _promise_parse(callback: CallbackRequest, amount, when) -> tuple[Decimal, date]:
    if callback.account is None:
        raise CallbackError("A promise to pay needs the call back's account.", field="outcome")
    try:
        value = Decimal(str(amount)) if amount not in (None, "") else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value <= 0:
        raise CallbackError("Enter the amount promised.", field="promise_amount")
    if value > callback.account.balance:
        raise CallbackError(
            f"The promise is more than the balance ({callback.account.balance}).",
            field="promise_amount",
        )
    today = debtor_today(callback.debtor)
    if not isinstance(when, date) or not today <= when <= today + timedelta(PROMISE_MAX_DAYS):
        raise CallbackError(
            f"Choose a date from today to {PROMISE_MAX_DAYS} days ahead (debtor's calendar).",
            field="promise_date",
        )
    return value.quantize(Decimal("0.01")), when


def callback_outcome_log(
    *,
    callback: CallbackRequest | int,
    outcome: str,
    actor: str,
    note: str = "",
    promise_amount=None,
    promise_date: date | None = None,
    at: datetime | None = None,
) -> CallbackRequest:
    """Log the call made for `callback` (see the module): the ledger entry the caps count, its
    timeline entry, the call back done, a promise waiting for its date. Logging twice refuses."""
    if outcome not in CallOutcome.values:
        raise CallbackError("Choose what happened on the call.", field="outcome")
    note = (note or "").strip()
    if len(note) > 2000:
        raise CallbackError("Keep the note under 2,000 characters.", field="outcome_note")
    at = at or timezone.now()
    with transaction.atomic():
        locked = _lock(callback)
        if locked.status == CallbackStatus.DONE:
            raise CallbackError("This call back's outcome is already logged.")
        if outcome == CallOutcome.PROMISE:
            amount, when = _promise_parse(locked, promise_amount, promise_date)
            locked.promise_amount, locked.promise_date = amount, when
            locked.promise_status = PromiseStatus.PENDING
        compliance.contact_record(
            debtor=locked.debtor,
            channel=Channel.CALL,
            at=at,
            outcome=CALL_LEDGER_OUTCOME[outcome],
            source="callback",
            account=locked.account,
            reference=f"callback:{locked.pk}",
            timeline=True,
            actor=actor,
        )
        locked.status, locked.done_at, locked.done_by = CallbackStatus.DONE, at, actor[:100]
        locked.outcome, locked.outcome_note = outcome, note
        locked.save()
        if outcome == CallOutcome.PROMISE:
            activity_record(
                debtor=locked.debtor,
                account=locked.account,
                kind=ActivityKind.ADMIN_CHANGE,
                summary=f"Promise to pay {locked.promise_amount} {locked.account.currency} "
                f"by {locked.promise_date} taken on call back {locked.pk}.",
                data={
                    "callback_id": locked.pk,
                    "promise_amount": str(locked.promise_amount),
                    "promise_date": locked.promise_date.isoformat(),
                },
                actor=actor,
            )
    return locked


def promises_check(*, now: datetime | None = None) -> dict[str, int]:
    """Decide every pending promise whose date plus the grace days has passed (see the
    module). Idempotent: a decided promise is not pending any more. Counts by outcome."""
    now = now or timezone.now()
    counts = {"kept": 0, "broken": 0, "follow_ups": 0}
    pending = CallbackRequest.objects.filter(promise_status=PromiseStatus.PENDING).values_list(
        "pk", flat=True
    )
    for pk in list(pending):
        with transaction.atomic():
            locked = _lock(pk)
            if locked.promise_status != PromiseStatus.PENDING:
                continue
            grace = timedelta(days=settings.PORTAL_PROMISE_GRACE_DAYS)
            if debtor_today(locked.debtor) <= locked.promise_date + grace:
                continue
            outcome = _promise_decide(locked, now=now)
            counts[outcome] += 1
            if outcome == PromiseStatus.BROKEN and _follow_up_book(locked, now=now):
                counts["follow_ups"] += 1
    return counts


def _promise_decide(callback: CallbackRequest, *, now: datetime) -> str:
    paid = Payment.objects.filter(
        account=callback.account,
        status=PaymentStatus.SUCCEEDED,
        received_at__gte=callback.done_at,
    ).aggregate(total=Sum("amount"))["total"] or Decimal("0")
    kept = paid >= callback.promise_amount
    callback.promise_status = PromiseStatus.KEPT if kept else PromiseStatus.BROKEN
    callback.save(update_fields=["promise_status"])
    activity_record(
        debtor=callback.debtor,
        account=callback.account,
        kind=ActivityKind.ADMIN_CHANGE,
        summary=f"Promise to pay {callback.promise_amount} by {callback.promise_date} "
        + ("kept." if kept else f"broken: {paid} received."),
        data={
            "callback_id": callback.pk,
            "promise": callback.promise_status,
            "paid": str(paid),
        },
        actor="system",
        occurred_at=now,
    )
    return callback.promise_status


def _follow_up_book(callback: CallbackRequest, *, now: datetime) -> CallbackRequest | None:
    """A follow-up call back the next morning on the debtor's calendar, unless one is open or
    the debtor has no phone number."""
    debtor = callback.debtor
    if not debtor.phone:
        return None
    if CallbackRequest.objects.filter(debtor=debtor, status=CallbackStatus.OPEN).exists():
        return None
    zone = debtor_zone(debtor)
    day = debtor_today(debtor) + timedelta(days=1)
    start_hour, end_hour = CALLBACK_HOURS[CallbackWindow.MORNING]
    follow_up = CallbackRequest.objects.create(
        debtor=debtor,
        account=callback.account,
        window=CallbackWindow.MORNING,
        window_start=datetime.combine(day, time(start_hour), tzinfo=zone),
        window_end=datetime.combine(day, time(end_hour), tzinfo=zone),
        follows_up=callback,
        created_at=now,
    )
    activity_record(
        debtor=debtor,
        account=callback.account,
        kind=ActivityKind.CALLBACK_REQUESTED,
        summary=f"Follow-up call back booked for {day} (morning): promise broken.",
        data={"callback_id": follow_up.pk, "follows_up": callback.pk},
        actor="system",
        occurred_at=now,
    )
    return follow_up
