"""Writes of the accounts domain. Each public function is one transaction with its timeline rows.

Callers: the creditor API (`accounts.apis`), the CSV import command and admin page, the demo
seeder, the portal (payments, plans) and later apps that add to the timeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts import money
from accounts.bulk import bulk_insert, bulk_update_by_key
from accounts.models import (
    OPEN_INSTALLMENT_STATUSES,
    Account,
    AccountStatus,
    Activity,
    ActivityKind,
    Creditor,
    Debtor,
    DebtorDataAccess,
    DomainError,
    Installment,
    InstallmentStatus,
    Payment,
    PaymentPlan,
    PlanFrequency,
    PlanStatus,
)
from accounts.placement import (
    ACCOUNT_UPDATABLE,
    DEBTOR_UPDATABLE,
    CleanRow,
    displayable,
    validate_row,
)

# --- Timeline ---------------------------------------------------------------------------------


def activity_record(
    *,
    debtor: Debtor,
    kind: str,
    summary: str,
    actor: str,
    account: Account | None = None,
    data: dict[str, Any] | None = None,
    occurred_at=None,
) -> Activity:
    """Append one entry to a debtor's timeline. Call it inside the transaction of the change."""
    return Activity.objects.create(
        creditor_id=debtor.creditor_id,
        debtor=debtor,
        account=account,
        kind=kind,
        summary=summary[:300],
        data=data or {},
        actor=actor[:100],
        occurred_at=occurred_at or timezone.now(),
    )


def debtor_data_access_record(*, user: Any, debtor: Debtor, page: str) -> DebtorDataAccess:
    """A staff user opened `page` (a path), which shows `debtor`'s personal data: one insert,
    ids and the path only (docs/privacy.md, "The staff access log")."""
    return DebtorDataAccess.objects.create(
        user_id=getattr(user, "pk", None),
        creditor_id=debtor.creditor_id,
        debtor_id=debtor.pk,
        page=page[:200],
    )


# --- Placement --------------------------------------------------------------------------------


class PlacementTooLarge(DomainError):
    """More rows than one placement may carry."""


@dataclass
class PlacementResult:
    """What a placement did, row by row (rows are identified by account external_ref)."""

    received: int = 0
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "summary": {
                "received": self.received,
                "created": len(self.created),
                "updated": len(self.updated),
                "unchanged": len(self.unchanged),
                "rejected": len(self.rejected),
            },
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }


ERASED_DEBTOR_ERROR = (
    "This debtor's personal data was erased at their request or by retention; the reference "
    "cannot be placed again."
)

_CHUNK = 2000  # rows per query: keeps IN lists and parameter counts well inside every backend


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _reject(result: PlacementResult, row: CleanRow, errors: dict[str, Any]) -> None:
    result.rejected.append(
        {"index": row.index, "external_ref": row.account["external_ref"], "errors": errors}
    )


# Flags that record the debtor's own requests: a re-placement may add flags but never
# removes these (a creditor's file must not undo an opt-out given in the portal or by SMS).
DEBTOR_OWNED_FLAGS = frozenset(
    {"opted_out_call", "opted_out_sms", "opted_out_email", "opted_out_letter",
     "opted_out_whatsapp", "cease_communication"}
)  # fmt: skip


def _debtor_values(existing: dict[str, Any]) -> dict[str, Any]:
    values = {name: existing[name] for name in DEBTOR_UPDATABLE}
    values["flags"] = sorted(values["flags"] or [])
    return values


def placement_upsert(
    *,
    creditor: Creditor,
    rows: Sequence[Any],
    actor: str,
    max_rows: int | None = None,
) -> PlacementResult:
    """Place accounts (with their debtors), upserting by external_ref; idempotent.

    Each row is validated on its own: valid rows are saved even when others are rejected, and
    each rejected row is reported with its index and field errors. A re-placed account keeps
    its balance, status and history; its debtor's details, description and due date are
    updated, and a change of currency, original amount or debtor is refused (recall and place
    again for that). Placements of one creditor run one at a time (the creditor row is locked),
    so concurrent uploads of the same file cannot create duplicates.
    """
    if max_rows is not None and len(rows) > max_rows:
        raise PlacementTooLarge(
            f"A placement may carry at most {max_rows:,} rows; this one has {len(rows):,}. "
            "Split it into several requests."
        )
    result = PlacementResult(received=len(rows))
    clean: list[CleanRow] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        ok, errors = validate_row(index, row, default_currency=creditor.default_currency)
        if ok is None:
            ref = row.get("external_ref") if isinstance(row, dict) else None
            result.rejected.append(
                {"index": index, "external_ref": displayable(ref) if isinstance(ref, str) else None,
                 "errors": errors}
            )  # fmt: skip
            continue
        ref = ok.account["external_ref"]
        if ref in seen:
            _reject(result, ok, {"external_ref": ["Appears more than once in this placement."]})
            continue
        seen.add(ref)
        clean.append(ok)

    with transaction.atomic():
        Creditor.objects.select_for_update().filter(pk=creditor.pk).first()
        for chunk in _chunks(clean):
            _upsert_chunk(creditor, chunk, actor, result)
    result.rejected.sort(key=lambda r: r["index"])
    return result


def _upsert_chunk(
    creditor: Creditor, rows: Sequence[CleanRow], actor: str, result: PlacementResult
) -> None:
    now = timezone.now()
    refs = [r.account["external_ref"] for r in rows]
    existing_accounts = {
        a["external_ref"]: a
        for a in Account.objects.filter(creditor=creditor, external_ref__in=refs).values(
            "id",
            "external_ref",
            "currency",
            "original_amount",
            "debtor__external_ref",
            "debtor_id",
            "description",
            "due_date",
        )
    }

    # A debtor whose personal data was erased is never filled in again under the same
    # reference (docs/privacy.md).
    erased = set(
        Debtor.objects.filter(
            creditor=creditor,
            external_ref__in={r.debtor["external_ref"] for r in rows},
            erased_at__isnull=False,
        ).values_list("external_ref", flat=True)
    )
    # Refuse changes a re-placement may not make, before anything is written.
    accepted: list[CleanRow] = []
    for row in rows:
        if row.debtor["external_ref"] in erased:
            _reject(result, row, {"debtor": {"external_ref": [ERASED_DEBTOR_ERROR]}})
            continue
        old = existing_accounts.get(row.account["external_ref"])
        if old is not None:
            errors = {}
            if old["currency"] != row.account["currency"]:
                errors["currency"] = ["Cannot change once placed (recall and place again)."]
            elif old["original_amount"] != row.account["original_amount"]:
                errors["original_amount"] = ["Cannot change once placed (recall and place again)."]
            if old["debtor__external_ref"] != row.debtor["external_ref"]:
                errors["debtor"] = {
                    "external_ref": ["The account already belongs to another debtor."]
                }
            if errors:
                _reject(result, row, errors)
                continue
        accepted.append(row)
    if not accepted:
        return

    # Debtors: the last row that mentions a debtor wins, as if rows were applied in order.
    debtor_rows: dict[str, dict[str, Any]] = {}
    for row in accepted:
        debtor_rows[row.debtor["external_ref"]] = row.debtor
    existing_debtors = {
        d["external_ref"]: d
        for d in Debtor.objects.filter(
            creditor=creditor, external_ref__in=list(debtor_rows)
        ).values("id", "external_ref", *DEBTOR_UPDATABLE)
    }
    debtor_ids = {ref: d["id"] for ref, d in existing_debtors.items()}
    changed_debtor_fields: dict[str, list[str]] = {}
    new_debtors: list[Debtor] = []
    changed_debtors: list[Debtor] = []
    for ref, values in debtor_rows.items():
        old = existing_debtors.get(ref)
        if old is None:
            new_debtors.append(
                Debtor(creditor_id=creditor.pk, created_at=now, updated_at=now, **values)
            )
            continue
        old_values = _debtor_values(old)
        # What the debtor told us (opt-outs, cease) outlives any creditor file.
        kept = [f for f in old_values["flags"] if f in DEBTOR_OWNED_FLAGS]
        if kept:
            values = {**values, "flags": sorted({*values["flags"], *kept})}
        diff = [name for name in DEBTOR_UPDATABLE if old_values[name] != values[name]]
        if diff:
            changed_debtor_fields[ref] = diff
            changed_debtors.append(
                Debtor(creditor_id=creditor.pk, created_at=now, updated_at=now, **values)
            )
    if changed_debtors:
        bulk_update_by_key(
            Debtor,
            changed_debtors,
            key=["creditor", "external_ref"],
            fields=[*DEBTOR_UPDATABLE, "updated_at"],
        )
    if new_debtors:
        bulk_insert(Debtor, new_debtors)
        debtor_ids.update(
            Debtor.objects.filter(
                creditor=creditor, external_ref__in=[d.external_ref for d in new_debtors]
            ).values_list("external_ref", "id")
        )

    new_accounts: list[Account] = []
    changed_accounts: list[Account] = []
    activities: list[Activity] = []
    for row in accepted:
        ref = row.account["external_ref"]
        debtor_ref = row.debtor["external_ref"]
        debtor_id = debtor_ids[debtor_ref]
        old = existing_accounts.get(ref)
        if old is None:
            new_accounts.append(
                Account(
                    creditor_id=creditor.pk,
                    debtor_id=debtor_id,
                    placed_at=now,
                    status_changed_at=now,
                    updated_at=now,
                    **row.account,
                )
            )
            result.created.append(ref)
            continue
        diff = [name for name in ACCOUNT_UPDATABLE if old[name] != row.account[name]]
        debtor_diff = changed_debtor_fields.pop(debtor_ref, [])
        if diff:
            changed_accounts.append(
                Account(creditor_id=creditor.pk, debtor_id=debtor_id, updated_at=now, **row.account)
            )
        if diff or debtor_diff:
            result.updated.append(ref)
            activities.append(
                Activity(
                    creditor_id=creditor.pk,
                    debtor_id=debtor_id,
                    account_id=old["id"],
                    kind=ActivityKind.UPDATED,
                    summary="Creditor updated the placement details.",
                    data={"account_fields": diff, "debtor_fields": debtor_diff},
                    actor=actor,
                    occurred_at=now,
                )
            )
        else:
            result.unchanged.append(ref)

    if new_accounts:
        bulk_insert(Account, new_accounts)
        new_ids = dict(
            Account.objects.filter(
                creditor=creditor, external_ref__in=[a.external_ref for a in new_accounts]
            ).values_list("external_ref", "id")
        )
        activities.extend(
            Activity(
                creditor_id=creditor.pk,
                debtor_id=account.debtor_id,
                account_id=new_ids[account.external_ref],
                kind=ActivityKind.PLACED,
                summary=f"Account placed: {account.original_amount} {account.currency}.",
                data={"external_ref": account.external_ref},
                actor=actor,
                occurred_at=now,
            )
            for account in new_accounts
        )
    if changed_accounts:
        bulk_update_by_key(
            Account,
            changed_accounts,
            key=["creditor", "external_ref"],
            fields=[*ACCOUNT_UPDATABLE, "updated_at"],
        )
    bulk_insert(Activity, activities)


# --- Status changes ---------------------------------------------------------------------------


def account_transition(
    *, account: Account, status: str, actor: str, reason: str = "", kind: str | None = None
) -> Account:
    """Change an account's status (checked by the state machine) and record it on the timeline."""
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=account.pk)
        old = locked.transition(status)
        locked.save(update_fields=["status", "status_changed_at", "updated_at"])
        activity_record(
            debtor=locked.debtor,
            account=locked,
            kind=kind or ActivityKind.STATUS_CHANGED,
            summary=f"Status changed from {AccountStatus(old).label} to "
            f"{AccountStatus(status).label}." + (f" {reason}" if reason else ""),
            data={"from": old, "to": status},
            actor=actor,
        )
    account.status, account.status_changed_at = locked.status, locked.status_changed_at
    account.updated_at = locked.updated_at
    return locked


def account_recall(*, account: Account, actor: str) -> Account:
    """The creditor takes the debt back: collection stops for good."""
    with transaction.atomic():
        recalled = account_transition(
            account=account, status=AccountStatus.RECALLED, actor=actor, kind=ActivityKind.RECALLED
        )
        PaymentPlan.objects.filter(account=recalled, status=PlanStatus.ACTIVE).update(
            status=PlanStatus.CANCELLED
        )
    return recalled


# --- Payments ---------------------------------------------------------------------------------


class PaymentRefused(DomainError):
    """A payment that cannot be recorded (overpayment, wrong currency, closed account...)."""


def payment_record(
    *,
    account: Account,
    amount: Decimal,
    idempotency_key: str,
    method: str,
    actor: str,
    provider: str = "",
    provider_reference: str = "",
    received_at=None,
) -> tuple[Payment, bool]:
    """Record money received, exactly once per idempotency key; returns (payment, created).

    The account row is locked, so two concurrent payments cannot overdraw the balance; the
    balance, the plan's instalments, the status and the timeline change in one transaction.
    Replaying a key returns the first payment; reusing it for a different amount is refused.
    """
    if not idempotency_key:
        raise PaymentRefused("A payment needs an idempotency key.")
    with transaction.atomic():
        locked = Account.objects.select_for_update().select_related("debtor").get(pk=account.pk)
        try:
            value = money.parse_amount(amount, locked.currency)
        except money.MoneyError as exc:
            raise PaymentRefused(str(exc)) from exc
        previous = Payment.objects.filter(
            creditor_id=locked.creditor_id, idempotency_key=idempotency_key
        ).first()
        if previous is not None:
            if previous.account_id != locked.pk or previous.amount != value:
                raise PaymentRefused("This idempotency key was already used for another payment.")
            return previous, False
        if value <= 0:
            raise PaymentRefused("A payment must be greater than zero.")
        if not locked.is_open:
            raise PaymentRefused(
                f"The account is {locked.get_status_display().lower()}; it takes no payments."
            )
        if value > locked.current_balance:
            raise PaymentRefused(
                f"{value} {locked.currency} is more than the balance of "
                f"{locked.balance} {locked.currency}."
            )
        now = timezone.now()
        payment = Payment.objects.create(
            creditor_id=locked.creditor_id,
            account=locked,
            idempotency_key=idempotency_key,
            amount=value,
            currency=locked.currency,
            method=method,
            provider=provider,
            provider_reference=provider_reference,
            received_at=received_at or now,
            created_at=now,
        )
        locked.current_balance = locked.current_balance - value
        locked.updated_at = now
        _installments_apply(locked, payment)
        if locked.current_balance == 0:
            locked.transition(AccountStatus.PAID)
            PaymentPlan.objects.filter(account=locked, status=PlanStatus.ACTIVE).update(
                status=PlanStatus.COMPLETED
            )
        locked.save(update_fields=["current_balance", "status", "status_changed_at", "updated_at"])
        activity_record(
            debtor=locked.debtor,
            account=locked,
            kind=ActivityKind.PAYMENT,
            summary=f"Payment of {value} {locked.currency} received; balance "
            f"{locked.balance} {locked.currency}.",
            data={"payment_id": payment.pk, "amount": str(value), "method": method},
            actor=actor,
        )
    return payment, True


def _installments_apply(account: Account, payment: Payment) -> None:
    """Allocate a payment to the active plan's oldest open instalments."""
    plan = PaymentPlan.objects.filter(account=account, status=PlanStatus.ACTIVE).first()
    if plan is None:
        return
    remaining = payment.amount
    for inst in plan.installments.filter(status__in=OPEN_INSTALLMENT_STATUSES).order_by("sequence"):
        if remaining <= 0:
            break
        portion = min(remaining, inst.amount_due)
        inst.amount_paid += portion
        remaining -= portion
        if inst.amount_paid >= inst.amount:
            inst.status = InstallmentStatus.PAID
            inst.payment = payment
            inst.paid_at = payment.received_at
        else:
            inst.status = InstallmentStatus.PARTIAL
        inst.save(update_fields=["amount_paid", "status", "payment", "paid_at"])
    if not plan.installments.filter(status__in=OPEN_INSTALLMENT_STATUSES).exists():
        plan.status = PlanStatus.COMPLETED
        plan.save(update_fields=["status"])


# --- Payment plans ----------------------------------------------------------------------------

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
    *, account: Account, frequency: str, count: int, first_due: date, actor: str
) -> PaymentPlan:
    """Agree a payment plan for the whole balance and move the account into it."""
    with transaction.atomic():
        locked = (
            Account.objects.select_for_update()
            .select_related("creditor", "debtor")
            .get(pk=account.pk)
        )
        schedule = plan_check(account=locked, frequency=frequency, count=count, first_due=first_due)
        locked.transition(AccountStatus.IN_PLAN)
        locked.save(update_fields=["status", "status_changed_at", "updated_at"])
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
        activity_record(
            debtor=locked.debtor,
            account=locked,
            kind=ActivityKind.PLAN_CREATED,
            summary=f"Payment plan agreed: {count} {PlanFrequency(frequency).label.lower()} "
            f"instalments of about {schedule[0][1]} {locked.currency}, first due {first_due}.",
            data={"plan_id": plan.pk, "frequency": frequency, "count": count},
            actor=actor,
        )
    return plan
