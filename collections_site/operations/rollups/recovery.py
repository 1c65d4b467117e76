"""The money and accounts rollups: `CollectedDay` (payments by the UTC day received),
`PlacementDay` (accounts by the UTC day placed), `AccountStatusDay` (a daily snapshot of the
accounts' statuses) and `InstalmentDay` (plan instalments by due date and outcome).

What bumps what:
- a payment is written once, with `created_at`; a payment's days are its `received_at` days;
- every payment and status change bumps `Account.updated_at`, so the placement days to
  rebuild are those of the accounts updated since the watermark (narrowed to the changes a
  placement row counts: a first payment, a status change, an edit by the creditor);
- instalments change when a payment settles them, a plan is agreed or changed (missed,
  broken) or the account leaves its plan; each writes a timeline entry (`Activity`) in the
  same transaction, so the due days to rebuild are those of the instalments of the accounts
  with such an entry since the watermark.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from accounts.models import (
    Account,
    AccountStatus,
    Activity,
    ActivityKind,
    Installment,
    InstallmentStatus,
    Payment,
    PaymentStatus,
)
from collections_site.operations.models import (
    AccountStatusDay,
    CollectedDay,
    InstalmentDay,
    InstalmentOutcome,
    PlacementDay,
)
from collections_site.operations.rollups.days import day_bounds, days_of

# --- Payments collected -------------------------------------------------------------------


def payments_changed_days(since: datetime | None, until: datetime) -> set[date]:
    payments = Payment.objects.filter(created_at__lte=until)
    if since is not None:
        payments = payments.filter(created_at__gt=since)
    return days_of(payments, "received_at")


def payments_day_rebuild(day: date) -> int:
    """One GROUP BY over the succeeded payments received on `day`."""
    CollectedDay.objects.filter(day=day).delete()
    start, end = day_bounds(day)
    groups = (
        Payment.objects.filter(
            received_at__gte=start, received_at__lt=end, status=PaymentStatus.SUCCEEDED
        )
        .order_by()
        .values(
            "creditor_id",
            "currency",
            region=F("account__debtor__region"),
            placed_month=TruncMonth("account__placed_at", tzinfo=UTC),
        )
        .annotate(payments=Count("id"), amount=Sum("amount"))
    )
    rows = [
        CollectedDay(
            day=day,
            creditor_id=g["creditor_id"],
            region=g["region"] or "",
            currency=g["currency"],
            placed_month=_as_date(g["placed_month"]),
            payments=g["payments"],
            amount=g["amount"],
        )
        for g in groups
    ]
    CollectedDay.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


# --- Placements and what became of them ---------------------------------------------------


def placements_changed_days(since: datetime | None, until: datetime) -> set[date]:
    """The placement days of the accounts changed since `since` in a way a `PlacementDay`
    counts: placed, status changed (resolved or not), first payment, or details updated by the
    creditor (the amount placed). Most payments are not an account's first: their days are
    left alone."""
    accounts = Account.objects.filter(updated_at__lte=until)
    if since is not None:
        paid = Payment.objects.filter(account=OuterRef("pk"), status=PaymentStatus.SUCCEEDED)
        edited = Activity.objects.filter(
            account=OuterRef("pk"), kind=ActivityKind.UPDATED, occurred_at__gt=since
        )
        accounts = accounts.filter(updated_at__gt=since).filter(
            Q(placed_at__gt=since)
            | Q(status_changed_at__gt=since)
            | (
                Exists(paid.filter(created_at__gt=since))
                & ~Exists(paid.filter(created_at__lte=since))
            )
            | Exists(edited)
        )
    return days_of(accounts, "placed_at")


def placements_day_rebuild(day: date) -> int:
    PlacementDay.objects.filter(day=day).delete()
    start, end = day_bounds(day)
    paid = Payment.objects.filter(account=OuterRef("pk"), status=PaymentStatus.SUCCEEDED)
    groups = (
        Account.objects.filter(placed_at__gte=start, placed_at__lt=end)
        .order_by()
        .values("creditor_id", "currency", region=F("debtor__region"))
        .annotate(
            accounts=Count("id"),
            placed_amount=Sum("original_amount"),
            paying=Count("id", filter=Q(Exists(paid))),
            resolved=Count("id", filter=Q(status__in=[AccountStatus.PAID, AccountStatus.SETTLED])),
        )
    )
    rows = [
        PlacementDay(
            day=day,
            creditor_id=g["creditor_id"],
            region=g["region"] or "",
            currency=g["currency"],
            accounts=g["accounts"],
            placed_amount=g["placed_amount"],
            paying=g["paying"],
            resolved=g["resolved"],
        )
        for g in groups
    ]
    PlacementDay.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


# --- Accounts by status: a snapshot of today -------------------------------------------------


def statuses_changed_days(since: datetime | None, until: datetime) -> set[date]:
    """Only today (UTC, as of `until`) can be snapshotted: the past is kept as it was taken."""
    return {until.astimezone(UTC).date()} if Account.objects.exists() else set()


def statuses_day_rebuild(day: date) -> int:
    """Snapshot the accounts' statuses now under `day`, when `day` is today (UTC); any other
    day keeps the snapshot it has (there is no record of a past day's statuses to redo)."""
    if day != timezone.now().astimezone(UTC).date():
        return 0
    AccountStatusDay.objects.filter(day=day).delete()
    groups = (
        Account.objects.order_by()
        .values("creditor_id", "currency", "status", region=F("debtor__region"))
        .annotate(accounts=Count("id"), balance=Sum("current_balance"))
    )
    rows = [
        AccountStatusDay(
            day=day,
            creditor_id=g["creditor_id"],
            region=g["region"] or "",
            currency=g["currency"],
            status=g["status"],
            accounts=g["accounts"],
            balance=g["balance"],
        )
        for g in groups
    ]
    AccountStatusDay.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


# --- Plan adherence ----------------------------------------------------------------------

# The timeline entries written whenever an account's instalments change.
_INSTALMENT_CHANGES = (
    ActivityKind.PAYMENT,
    ActivityKind.PLAN_CREATED,
    ActivityKind.PLAN_CHANGED,
    ActivityKind.STATUS_CHANGED,
    ActivityKind.RECALLED,
)


def instalments_changed_days(since: datetime | None, until: datetime) -> set[date]:
    instalments = Installment.objects.all()
    if since is not None:
        touched = Activity.objects.filter(
            occurred_at__gt=since,
            occurred_at__lte=until,
            kind__in=_INSTALMENT_CHANGES,
            account__isnull=False,
        ).values("account_id")
        instalments = instalments.filter(plan__account_id__in=touched)
    return set(instalments.order_by().values_list("due_date", flat=True).distinct())


def _outcome() -> Case:
    """What became of an instalment: paid by the end of its due day (UTC), paid later,
    marked missed, or neither yet."""
    paid = Q(status=InstallmentStatus.PAID)
    return Case(
        When(paid & Q(paid_day__lte=F("due_date")), then=Value(InstalmentOutcome.ON_TIME)),
        When(paid, then=Value(InstalmentOutcome.LATE)),
        When(status=InstallmentStatus.MISSED, then=Value(InstalmentOutcome.MISSED)),
        default=Value(InstalmentOutcome.OPEN),
        output_field=CharField(),
    )


def instalments_day_rebuild(day: date) -> int:
    InstalmentDay.objects.filter(day=day).delete()
    groups = (
        Installment.objects.filter(due_date=day)
        .exclude(status=InstallmentStatus.CANCELLED)
        .order_by()
        .annotate(paid_day=TruncDate("paid_at", tzinfo=UTC))
        .values(
            creditor_id=F("plan__account__creditor_id"),
            region=F("plan__account__debtor__region"),
            currency=F("plan__account__currency"),
            outcome=_outcome(),
        )
        .annotate(instalments=Count("id"), amount=Sum("amount"))
    )
    rows = [
        InstalmentDay(
            day=day,
            creditor_id=g["creditor_id"],
            region=g["region"] or "",
            currency=g["currency"],
            outcome=g["outcome"],
            instalments=g["instalments"],
            amount=g["amount"],
        )
        for g in groups
    ]
    InstalmentDay.objects.bulk_create(rows, batch_size=1000)
    return len(rows)
