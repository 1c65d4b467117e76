"""Account status changes: each one call that checks the state machine, saves the account,
ends its active plans where the new status requires it, and writes the timeline entry, in one
transaction (through `accounts.transitions.transition_save`).

Callers: the creditor API and admin (`account_transition`, `account_recall`), the portal
(`account_pause`, `account_pause_end`, `account_dispute`, `account_settle`), privacy (closing
on erasure).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from django.db import transaction

from accounts.models import (
    Account,
    AccountStatus,
    ActivityKind,
    Payment,
    PaymentPlan,
    PlanStatus,
)
from accounts.services.activity import activity_record
from accounts.transitions import transition_save
from accounts.webhooks.events import account_status_events, plans_event
from accounts.webhooks.models import EventType


def account_lock(account: Account | int) -> Account:
    """The account row, locked until the transaction ends, with its debtor and creditor."""
    pk = account if isinstance(account, int) else account.pk
    return Account.objects.select_for_update().select_related("debtor", "creditor").get(pk=pk)


def account_move(
    locked: Account,
    status: str,
    *,
    actor: str,
    kind: str,
    summary: str | Callable[[str], str],
    data: Callable[[str], dict[str, Any]],
    fields: tuple[str, ...] = (),
    event_data: dict[str, Any] | None = None,
) -> str:
    """Move a locked account to `status` with its timeline entry and its webhook events
    (`accounts.webhooks.events.account_status_events`, `event_data` added to their data);
    returns the old status.

    `summary` and `data` may depend on the old status (they receive it). The building block
    of every account status change in `accounts.services`; call it inside their transaction.
    """

    def audit(old: str):
        return activity_record(
            debtor=locked.debtor,
            account=locked,
            kind=kind,
            summary=summary(old) if callable(summary) else summary,
            data=data(old),
            actor=actor,
        )

    old = transition_save(locked, status, fields=fields, audit=audit)
    account_status_events(locked, old, extra=event_data)
    return old


def plans_end(*, account: Account, status: str) -> list[int]:
    """End the account's active plan(s) with `status` (cancelled, completed); their ids."""
    ids = list(
        PaymentPlan.objects.filter(account=account, status=PlanStatus.ACTIVE).values_list(
            "pk", flat=True
        )
    )
    if ids:
        PaymentPlan.objects.filter(pk__in=ids).update(status=status)
        if status == PlanStatus.COMPLETED:
            plans_event(ids, EventType.PLAN_COMPLETED, creditor_id=account.creditor_id)
    return ids


def account_transition(
    *,
    account: Account,
    status: str,
    actor: str,
    reason: str = "",
    kind: str | None = None,
    event_data: dict[str, Any] | None = None,
) -> Account:
    """Change an account's status (checked by the state machine) and record it on the timeline;
    `event_data` adds keys to its webhook events' data (e.g. the `dispute_id` that moved it)."""
    with transaction.atomic():
        locked = account_lock(account)
        account_move(
            locked,
            status,
            actor=actor,
            kind=kind or ActivityKind.STATUS_CHANGED,
            summary=lambda old: (
                f"Status changed from {AccountStatus(old).label} to "
                f"{AccountStatus(status).label}." + (f" {reason}" if reason else "")
            ),
            data=lambda old: {"from": old, "to": status, **({"reason": reason} if reason else {})},
            event_data=event_data,
        )
    account.status, account.status_changed_at = locked.status, locked.status_changed_at
    account.updated_at = locked.updated_at
    return locked


def account_recall(*, account: Account, actor: str, reason: str = "") -> Account:
    """The creditor takes the debt back: collection stops for good. The API's recall and the
    admins' (`reason`, when given, is written on the timeline entry)."""
    with transaction.atomic():
        recalled = account_transition(
            account=account,
            status=AccountStatus.RECALLED,
            actor=actor,
            reason=reason.strip(),
            kind=ActivityKind.RECALLED,
        )
        plans_end(account=recalled, status=PlanStatus.CANCELLED)
    return recalled


def account_close(*, account: Account, actor: str, reason: str) -> Account:
    """Close an account for good (a forced erasure); its active plans are cancelled."""
    with transaction.atomic():
        closed = account_transition(
            account=account, status=AccountStatus.CLOSED, actor=actor, reason=reason
        )
        plans_end(account=closed, status=PlanStatus.CANCELLED)
    return closed


def account_pause(
    *, account: Account, days: int, until, actor: str, data: dict[str, Any]
) -> Account:
    """A breathing space: paused until `until` (`days` from today on the debtor's calendar).

    `data` adds the caller's references (the pause request, the stage after it) to the
    timeline entry. Returns the locked, paused account.
    """
    with transaction.atomic():
        locked = account_lock(account)
        locked.paused_until = until
        account_move(
            locked,
            AccountStatus.PAUSED,
            actor=actor,
            kind=ActivityKind.PAUSE,
            summary=f"Breathing space: collection paused for {days} days, until {until}.",
            data=lambda old: {"days": days, "until": until.isoformat(), "from": old, **data},
            fields=("paused_until",),
            event_data={"paused_until": until.isoformat(), "days": days},
        )
    return locked


def account_pause_end(*, account: Account | int, today: date, actor: str) -> Account | None:
    """End a breathing space that is over (`paused_until` before `today`, the debtor's date):
    back to `in_plan` when the account still has an active plan (a plan keeps its schedule
    through a pause), else `active`; `paused_until` is cleared. The timeline entry and the
    `account.status_changed` and `pause.ended` events (with the `paused_until` that passed)
    commit with it.

    Returns the account, or None when there is nothing to end: it is no longer paused, its
    pause runs on, or another transaction holds its row (a second worker ending it, a debtor
    paying): the row is skipped, not waited for, and the next run looks again. So two workers
    can run this at once and each pause ends once.
    """
    pk = account if isinstance(account, int) else account.pk
    with transaction.atomic():
        locked = (
            Account.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("debtor", "creditor")
            .filter(pk=pk, status=AccountStatus.PAUSED, paused_until__lt=today)
            .first()
        )
        if locked is None:
            return None
        until = locked.paused_until
        planned = PaymentPlan.objects.filter(account=locked, status=PlanStatus.ACTIVE).exists()
        status = AccountStatus.IN_PLAN if planned else AccountStatus.ACTIVE
        locked.paused_until = None
        account_move(
            locked,
            status,
            actor=actor,
            kind=ActivityKind.STATUS_CHANGED,
            summary=f"Breathing space over (it ran until {until}): "
            f"{AccountStatus(status).label.lower()} again.",
            data=lambda old: {
                "from": old,
                "to": status,
                "event": "pause_ended",
                "paused_until": until.isoformat(),
            },
            fields=("paused_until",),
            event_data={"paused_until": until.isoformat()},
        )
    return locked


def account_dispute(*, account: Account, actor: str, summary: str, data: dict[str, Any]) -> Account:
    """The debtor disputes the debt: collection contact stops until it is resolved, and an
    active plan is cancelled (a disputed account cannot stay in a plan)."""
    with transaction.atomic():
        locked = account_lock(account)
        # A refused transition below rolls this back with everything else.
        plans = plans_end(account=locked, status=PlanStatus.CANCELLED)
        account_move(
            locked,
            AccountStatus.DISPUTED,
            actor=actor,
            kind=ActivityKind.DISPUTE,
            summary=summary,
            data=lambda old: {**data, "from": old, "plans_cancelled": plans},
            event_data={"dispute_id": data["dispute_id"]} if "dispute_id" in data else None,
        )
    return locked


def account_settle(
    *, account: Account, payment: Payment, actor: str, data: dict[str, Any]
) -> Account:
    """Settle an account after its settlement amount was recorded (in the same transaction).

    The remainder stays as `current_balance` and is written off: `settled` is final, so it is
    never collected. Active plans are cancelled. `data` adds the caller's references.
    """
    with transaction.atomic():
        locked = account_lock(account)
        account_move(
            locked,
            AccountStatus.SETTLED,
            actor=actor,
            kind=ActivityKind.STATUS_CHANGED,
            summary=f"Settled: {payment.amount} {locked.currency} paid, "
            f"{locked.balance} {locked.currency} written off.",
            data=lambda old: {
                "from": old,
                "to": AccountStatus.SETTLED,
                **data,
                "payment_id": payment.pk,
                "written_off": str(locked.balance),
            },
        )
        plans_end(account=locked, status=PlanStatus.CANCELLED)
    return locked
