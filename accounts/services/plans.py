"""Payment plans: the schedule, the creditor's policy, agreeing a plan, and what happens when
instalments are missed (marked missed, then the plan broken)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts import money
from accounts.models import (
    Account,
    AccountStatus,
    Activity,
    ActivityKind,
    DomainError,
    Installment,
    InstallmentStatus,
    PaymentPlan,
    PlanFrequency,
    PlanStatus,
)
from accounts.services.activity import activity_record
from accounts.services.status import account_lock
from accounts.transitions import transition_save

_STEP = {PlanFrequency.WEEKLY: 7, PlanFrequency.FORTNIGHTLY: 14}


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    # Clamp to the month's last day (31 Jan + 1 month -> 28/29 Feb).
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def plan_schedule(
    *, total: Decimal, currency: str, frequency: str, count: int, first_due: date
) -> list[tuple[date, Decimal]]:
    """The (due date, amount) pairs of a plan; amounts add up to `total` exactly."""
    amounts = money.split_evenly(total, count, currency)
    dates = []
    for i in range(count):
        if frequency == PlanFrequency.MONTHLY:
            dates.append(_add_months(first_due, i))
        else:
            dates.append(first_due + timedelta(days=_STEP[frequency] * i))
    return list(zip(dates, amounts, strict=True))


def plan_check(
    *, account: Account, frequency: str, count: int, first_due: date
) -> list[tuple[date, Decimal]]:
    """Validate a plan against the creditor's policy and return its schedule, or raise."""
    if frequency not in PlanFrequency.values:
        raise DomainError(f"Unknown plan frequency {frequency!r}.")
    if count < 1:
        raise DomainError("A plan needs at least one instalment.")
    if first_due < timezone.localdate():
        raise DomainError("The first instalment cannot be due in the past.")
    creditor = account.creditor
    schedule = plan_schedule(
        total=account.balance,
        currency=account.currency,
        frequency=frequency,
        count=count,
        first_due=first_due,
    )
    # The plan's length runs from today to the last instalment's due date.
    last_allowed = _add_months(timezone.localdate(), creditor.max_plan_months)
    if schedule[-1][0] > last_allowed:
        raise DomainError(f"A plan may last at most {creditor.max_plan_months} months.")
    smallest = min(amount for _, amount in schedule)
    min_instalment = money.quantize(creditor.min_instalment, account.currency)
    if count > 1 and smallest < min_instalment:
        raise DomainError(f"Each instalment must be at least {min_instalment} {account.currency}.")
    return schedule


def plan_create(
    *,
    account: Account,
    frequency: str,
    count: int,
    first_due: date,
    actor: str,
    end_pause: bool = False,
) -> PaymentPlan:
    """Agree a payment plan for the whole balance and move the account into it.

    `end_pause` also ends a breathing space the debtor no longer needs (the portal's plans).
    """
    with transaction.atomic():
        locked = account_lock(account)
        schedule = plan_check(account=locked, frequency=frequency, count=count, first_due=first_due)
        if end_pause:
            locked.paused_until = None
        made: list[PaymentPlan] = []  # the plan, created with the timeline entry

        def entry(_old: str) -> Activity:
            plan = PaymentPlan.objects.create(
                account=locked,
                frequency=frequency,
                total_amount=locked.balance,
                instalment_count=count,
            )
            Installment.objects.bulk_create(
                Installment(plan=plan, sequence=i + 1, due_date=due, amount=amount)
                for i, (due, amount) in enumerate(schedule)
            )
            made.append(plan)
            return activity_record(
                debtor=locked.debtor,
                account=locked,
                kind=ActivityKind.PLAN_CREATED,
                summary=f"Payment plan agreed: {count} {PlanFrequency(frequency).label.lower()} "
                f"instalments of about {schedule[0][1]} {locked.currency}, first due {first_due}.",
                data={"plan_id": plan.pk, "frequency": frequency, "count": count},
                actor=actor,
            )

        transition_save(
            locked,
            AccountStatus.IN_PLAN,
            audit=entry,
            fields=("paused_until",) if end_pause else (),
        )
    return made[0]


def installments_miss(
    *, plan_id: int, cutoff: date, pause_end: date | None, actor: str, data: dict[str, Any]
) -> int:
    """Mark the plan's unpaid instalments due before `cutoff` missed; how many were.

    An instalment due before a pause that ended at or after `cutoff` is spared. Only an
    active plan of an `in_plan` account is touched; the account stays in its plan. One
    `plan_changed` entry (with `data`) records the instalments marked.
    """
    with transaction.atomic():
        plan = PaymentPlan.objects.get(pk=plan_id)
        account = account_lock(plan.account_id)
        if account.status != AccountStatus.IN_PLAN or plan.status != PlanStatus.ACTIVE:
            return 0
        marked = []
        for inst in plan.installments.filter(
            status__in=[InstallmentStatus.PENDING, InstallmentStatus.PARTIAL],
            due_date__lt=cutoff,
        ):
            if pause_end is not None and pause_end >= cutoff and pause_end >= inst.due_date:
                continue
            inst.status = InstallmentStatus.MISSED
            inst.save(update_fields=["status"])
            marked.append(inst)
        if marked:
            activity_record(
                debtor=account.debtor,
                account=account,
                kind=ActivityKind.PLAN_CHANGED,
                summary=f"{len(marked)} instalment(s) missed.",
                data={
                    "event": "instalment_missed",
                    "plan_id": plan.pk,
                    "installment_ids": [i.pk for i in marked],
                    **data,
                },
                actor=actor,
            )
    return len(marked)


def plan_break(*, plan_id: int, cutoff: date, actor: str, data: dict[str, Any]) -> int:
    """Break an active plan with an instalment missed before `cutoff`: the plan is `broken`
    and the account back to `active`, in the contact cycle again. 1 if it broke, else 0."""
    with transaction.atomic():
        plan = PaymentPlan.objects.select_for_update().get(pk=plan_id)
        account = account_lock(plan.account_id)
        if account.status != AccountStatus.IN_PLAN or plan.status != PlanStatus.ACTIVE:
            return 0
        if not plan.installments.filter(
            status=InstallmentStatus.MISSED, due_date__lt=cutoff
        ).exists():
            return 0
        plan.status = PlanStatus.BROKEN
        plan.save(update_fields=["status"])
        transition_save(
            account,
            AccountStatus.ACTIVE,
            audit=lambda old: activity_record(
                debtor=account.debtor,
                account=account,
                kind=ActivityKind.PLAN_CHANGED,
                summary="Payment plan broken after a missed instalment; back in the contact cycle.",
                data={
                    "event": "plan_broken",
                    "plan_id": plan.pk,
                    "from": old,
                    "to": AccountStatus.ACTIVE,
                    **data,
                },
                actor=actor,
            ),
        )
    return 1
