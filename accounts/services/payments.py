"""Payments: money received against an account, exactly once per idempotency key, allocated
to the active plan's instalments."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts import money
from accounts.models import (
    OPEN_INSTALLMENT_STATUSES,
    Account,
    AccountStatus,
    ActivityKind,
    DomainError,
    InstallmentStatus,
    Payment,
    PaymentPlan,
    PlanStatus,
)
from accounts.services.activity import activity_record
from accounts.services.status import account_move, plans_end
from accounts.webhooks.events import plans_event, webhook_event_record
from accounts.webhooks.models import EventType


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
        # Under the account's lock, so a replay racing the first payment sees it.
        previous = _payment_replayed(locked, idempotency_key, value)
        if previous is not None:
            return previous, False
        _payment_check(locked, value)
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
        _payment_apply(locked, payment, actor=actor, now=now)
    return payment, True


# The steps of `payment_record`, each run inside its transaction with the account locked.


def _payment_replayed(account: Account, idempotency_key: str, value: Decimal) -> Payment | None:
    """The payment already recorded under this key, or None; a key reused for another account
    or amount is refused."""
    previous = Payment.objects.filter(
        creditor_id=account.creditor_id, idempotency_key=idempotency_key
    ).first()
    if previous is not None and (previous.account_id != account.pk or previous.amount != value):
        raise PaymentRefused("This idempotency key was already used for another payment.")
    return previous


def _payment_check(account: Account, value: Decimal) -> None:
    if value <= 0:
        raise PaymentRefused("A payment must be greater than zero.")
    if not account.is_open:
        raise PaymentRefused(
            f"The account is {account.get_status_display().lower()}; it takes no payments."
        )
    if value > account.current_balance:
        raise PaymentRefused(
            f"{value} {account.currency} is more than the balance of "
            f"{account.balance} {account.currency}."
        )


def _payment_apply(account: Account, payment: Payment, *, actor: str, now: datetime) -> None:
    """Lower the balance, settle instalments and write the payment's timeline entry; paid in
    full, the account becomes `paid` and its plans complete, recorded by that same entry."""
    value = payment.amount
    account.current_balance = account.current_balance - value
    account.updated_at = now
    _installments_apply(account, payment)
    webhook_event_record(
        creditor_id=account.creditor_id, type=EventType.PAYMENT_SUCCEEDED, obj=payment
    )
    entry = {
        "kind": ActivityKind.PAYMENT,
        "summary": f"Payment of {value} {account.currency} received; balance "
        f"{account.balance} {account.currency}.",
        "actor": actor,
    }
    data = {"payment_id": payment.pk, "amount": str(value), "method": payment.method}
    if account.current_balance == 0:
        # Paid in full: the payment's entry is the record of the status change too.
        plans_end(account=account, status=PlanStatus.COMPLETED)
        account_move(
            account, AccountStatus.PAID, data=lambda _old: data, fields=("current_balance",),
            **entry,
        )  # fmt: skip
    else:
        account.save(update_fields=["current_balance", "updated_at"])
        activity_record(debtor=account.debtor, account=account, data=data, **entry)


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
        plans_event([plan.pk], EventType.PLAN_COMPLETED, creditor_id=account.creditor_id)
