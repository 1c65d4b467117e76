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
    ACCOUNT_MACHINE,
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
from accounts.webhooks.events import account_status_events, plans_event
from accounts.webhooks.models import EventType

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


# How far ahead a debtor may put the first payment of a plan they choose themselves (the portal
# says "within the next 30 days"), and the fewest instalments such a plan has.
PLAN_START_DAYS = 30
SELF_SERVICE_MIN_COUNT = 2

# The statuses a plan can be agreed from: those the account's machine lets become `in_plan`.
PLANNABLE: tuple[str, ...] = tuple(
    s for s in AccountStatus.values if ACCOUNT_MACHINE.allows(s, AccountStatus.IN_PLAN)
)

# Most instalments of each frequency that could fall in one month: bounds the counts tried.
_PER_MONTH = {PlanFrequency.WEEKLY: 5, PlanFrequency.FORTNIGHTLY: 3, PlanFrequency.MONTHLY: 1}

# Every rule `plan_check` applies, in the order it applies them.
PLAN_RULES = (
    "status",
    "frequency",
    "min_count",
    "max_months",
    "min_instalment",
    "first_due_past",
    "first_due_late",
)


class PlanRefused(DomainError):
    """A plan rule refused the plan.

    `rule` names it (one of `PLAN_RULES`), `field` the input it concerns (`frequency`,
    `count`, `first_due`, or None for the plan as a whole), and `params` the values another
    wording of the refusal needs (`minimum` and `maximum` instalments for a refused count).
    The message is English, for operators and the API; the portal words each rule in the
    debtor's language from `rule` and `params`.
    """

    def __init__(self, message: str, *, rule: str, field: str | None, **params: Any) -> None:
        super().__init__(message)
        self.rule = rule
        self.field = field
        self.params = params


def plan_check(
    *,
    account: Account,
    frequency: str,
    count: int,
    first_due: date,
    self_service: bool = False,
) -> list[tuple[date, Decimal]]:
    """The one owner of a plan's rules: return the plan's schedule, or raise `PlanRefused`.

    Every caller (`plan_create`, the portal's plan page and its `plan_accept`) asks here, so a
    rule is enforced in one place. The rules, in order: the account can become `in_plan`; the
    frequency is known; the count is at least 1 (`SELF_SERVICE_MIN_COUNT` when the debtor
    chooses, `self_service`); a plan of that many instalments starting today lasts at most
    the creditor's `max_plan_months` and each instalment is at least its `min_instalment`;
    the first payment is not in the past (and, self-service, within `PLAN_START_DAYS`); the
    plan from that first payment still ends within `max_plan_months` of today.
    """
    if account.status not in PLANNABLE:
        label = AccountStatus(account.status).label.lower()
        raise PlanRefused(
            f"A payment plan cannot be agreed for an account that is {label}.",
            rule="status",
            field=None,
        )
    if frequency not in PlanFrequency.values:
        raise PlanRefused(
            f"Unknown plan frequency {frequency!r}.", rule="frequency", field="frequency"
        )
    today = timezone.localdate()
    _count_check(account=account, frequency=frequency, count=count, self_service=self_service)
    _first_due_check(first_due=first_due, today=today, self_service=self_service)
    schedule = plan_schedule(
        total=account.balance,
        currency=account.currency,
        frequency=frequency,
        count=count,
        first_due=first_due,
    )
    if schedule[-1][0] > _last_allowed(account, today):
        # The count fits from today; the later first payment pushes the end too far.
        raise PlanRefused(
            f"A plan may last at most {account.creditor.max_plan_months} months.",
            rule="max_months",
            field=None,
        )
    return schedule


def plan_counts(*, account: Account, frequency: str, self_service: bool = False) -> list[int]:
    """The instalment counts of `frequency` the creditor's policy allows for a plan starting
    today (the portal offers their range)."""
    minimum = SELF_SERVICE_MIN_COUNT if self_service else 1
    today = timezone.localdate()
    return [
        n
        for n in range(minimum, _count_ceiling(account, frequency) + 1)
        if _count_problem(account, frequency, n, today) is None
    ]


def _last_allowed(account: Account, today: date) -> date:
    # A plan's length runs from today to the last instalment's due date.
    return _add_months(today, account.creditor.max_plan_months)


def _count_ceiling(account: Account, frequency: str) -> int:
    return account.creditor.max_plan_months * _PER_MONTH[PlanFrequency(frequency)] + 1


def _count_problem(account: Account, frequency: str, count: int, start: date) -> PlanRefused | None:
    """What is wrong with `count` instalments from `start`, by the creditor's limits."""
    creditor = account.creditor
    too_long = PlanRefused(
        f"A plan may last at most {creditor.max_plan_months} months.",
        rule="max_months",
        field="count",
    )
    if count > _count_ceiling(account, frequency):
        return too_long  # without building a schedule of that many instalments
    schedule = plan_schedule(
        total=account.balance,
        currency=account.currency,
        frequency=frequency,
        count=count,
        first_due=start,
    )
    if schedule[-1][0] > _last_allowed(account, start):
        return too_long
    smallest = min(amount for _, amount in schedule)
    min_instalment = money.quantize(creditor.min_instalment, account.currency)
    if count > 1 and smallest < min_instalment:
        return PlanRefused(
            f"Each instalment must be at least {min_instalment} {account.currency}.",
            rule="min_instalment",
            field="count",
        )
    return None


def _count_check(*, account: Account, frequency: str, count: int, self_service: bool) -> None:
    minimum = SELF_SERVICE_MIN_COUNT if self_service else 1
    if count < minimum:
        words = {1: "one instalment", 2: "two instalments"}
        raise PlanRefused(
            f"A plan needs at least {words.get(minimum, minimum)}.",
            rule="min_count",
            field="count",
            minimum=minimum,
        )
    problem = _count_problem(account, frequency, count, timezone.localdate())
    if problem is not None:
        allowed = plan_counts(account=account, frequency=frequency, self_service=self_service)
        problem.params = {
            "minimum": allowed[0] if allowed else minimum,
            "maximum": allowed[-1] if allowed else minimum,
        }
        raise problem


def _first_due_check(*, first_due: date, today: date, self_service: bool) -> None:
    if first_due < today:
        raise PlanRefused(
            "The first instalment cannot be due in the past.",
            rule="first_due_past",
            field="first_due",
        )
    if self_service and first_due > today + timedelta(days=PLAN_START_DAYS):
        raise PlanRefused(
            f"The first instalment must be due within {PLAN_START_DAYS} days.",
            rule="first_due_late",
            field="first_due",
        )


def plan_create(
    *,
    account: Account,
    frequency: str,
    count: int,
    first_due: date,
    actor: str,
    end_pause: bool = False,
    self_service: bool = False,
) -> PaymentPlan:
    """Agree a payment plan for the whole balance and move the account into it.

    `plan_check` applies every rule to the locked account (`self_service` adds the limits of a
    plan the debtor chooses); `end_pause` also ends a breathing space the debtor no longer
    needs (the portal's plans).
    """
    with transaction.atomic():
        locked = account_lock(account)
        schedule = plan_check(
            account=locked,
            frequency=frequency,
            count=count,
            first_due=first_due,
            self_service=self_service,
        )
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

        old = transition_save(
            locked,
            AccountStatus.IN_PLAN,
            audit=entry,
            fields=("paused_until",) if end_pause else (),
        )
        plans_event([made[0].pk], EventType.PLAN_CREATED, creditor_id=locked.creditor_id)
        account_status_events(locked, old, extra={"plan_id": made[0].pk})
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
            plans_event(
                [plan.pk], EventType.PLAN_INSTALMENT_MISSED, creditor_id=account.creditor_id
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
        plans_event([plan.pk], EventType.PLAN_BROKEN, creditor_id=account.creditor_id)
        old = transition_save(
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
        account_status_events(account, old, extra={"plan_id": plan.pk})
    return 1
