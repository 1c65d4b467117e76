import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.utils import timezone

from accounts import services
from accounts.models import (
    Account,
    Activity,
    ActivityKind,
    DomainError,
    InstallmentStatus,
    Payment,
    PlanStatus,
)
from accounts.tests.factories import CreditorFactory, place, row

pytestmark = pytest.mark.django_db


def pay(account, amount, key, **kw):
    return services.payment_record(
        account=account, amount=amount, idempotency_key=key, method="card", actor="test", **kw
    )


def test_payment_reduces_balance_and_writes_timeline(creditor):
    (account,) = place(creditor, row(1))
    payment, created = pay(account, "20.50", "k1")
    assert created
    account.refresh_from_db()
    assert account.current_balance == Decimal("100.00")
    assert payment.amount == Decimal("20.50") and payment.currency == "USD"
    entry = Activity.objects.get(kind=ActivityKind.PAYMENT)
    assert entry.data["payment_id"] == payment.pk


def test_replayed_idempotency_key_records_the_payment_once(creditor):
    (account,) = place(creditor, row(1))
    first, created1 = pay(account, "20.50", "same")
    second, created2 = pay(account, "20.50", "same")
    assert (created1, created2) == (True, False)
    assert first.pk == second.pk
    account.refresh_from_db()
    assert account.current_balance == Decimal("100.00")
    assert Payment.objects.count() == 1


def test_reusing_a_key_for_another_amount_is_refused(creditor):
    (account,) = place(creditor, row(1))
    pay(account, "20.50", "same")
    with pytest.raises(services.PaymentRefused, match="already used"):
        pay(account, "10.00", "same")


def test_overpayment_is_refused_and_changes_nothing(creditor):
    (account,) = place(creditor, row(1))
    with pytest.raises(services.PaymentRefused, match="more than the balance"):
        pay(account, "120.51", "k1")
    account.refresh_from_db()
    assert account.current_balance == Decimal("120.50")
    assert not Payment.objects.exists()


@pytest.mark.parametrize("amount", ["0", "-1", "1.001", "abc"])
def test_invalid_payment_amount_is_refused(creditor, amount):
    (account,) = place(creditor, row(1))
    with pytest.raises(services.PaymentRefused):
        pay(account, amount, "k1")


def test_paying_the_balance_marks_the_account_paid(creditor):
    (account,) = place(creditor, row(1))
    pay(account, "120.50", "k1")
    account.refresh_from_db()
    assert account.status == "paid" and account.current_balance == 0
    with pytest.raises(services.PaymentRefused, match="takes no payments"):
        pay(account, "1", "k2")


def test_same_key_at_two_creditors_are_two_payments(creditor):
    other = CreditorFactory()
    (a,) = place(creditor, row(1))
    (b,) = place(other, row(1, currency="USD"))
    pay(a, "10", "shared-key")
    pay(b, "10", "shared-key")
    assert Payment.objects.count() == 2


def test_plan_schedules_instalments_and_payments_settle_them_in_order(creditor):
    (account,) = place(creditor, row(1, original_amount="100.00"))
    first_due = timezone.localdate() + timedelta(days=3)
    plan = services.plan_create(
        account=account, frequency="monthly", count=3, first_due=first_due, actor="t"
    )
    account.refresh_from_db()
    assert account.status == "in_plan"
    insts = list(plan.installments.all())
    assert [i.amount for i in insts] == [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]
    assert insts[1].due_date.month == (first_due.month % 12) + 1

    payment, _ = pay(account, "40.00", "p1")
    insts = list(plan.installments.all())
    assert insts[0].status == InstallmentStatus.PAID and insts[0].payment == payment
    assert insts[1].status == InstallmentStatus.PARTIAL
    assert insts[1].amount_paid == Decimal("6.67")

    pay(account, "60.00", "p2")
    plan.refresh_from_db()
    account.refresh_from_db()
    assert plan.status == PlanStatus.COMPLETED
    assert account.status == "paid"
    assert all(i.status == InstallmentStatus.PAID for i in plan.installments.all())


def test_plan_outside_creditor_policy_is_refused(creditor):
    creditor.min_instalment = Decimal("30")
    creditor.max_plan_months = 2
    creditor.save()
    (account,) = place(creditor, row(1, original_amount="100.00"))
    soon = timezone.localdate() + timedelta(days=1)
    with pytest.raises(DomainError, match=r"at least 30\.00"):
        services.plan_create(
            account=account, frequency="weekly", count=4, first_due=soon, actor="t"
        )
    with pytest.raises(DomainError, match="at most 2 months"):
        services.plan_create(account=account, frequency="monthly", count=3, first_due=soon,
                             actor="t")  # fmt: skip
    with pytest.raises(DomainError, match="past"):
        services.plan_create(account=account, frequency="monthly", count=1,
                             first_due=soon - timedelta(days=5), actor="t")  # fmt: skip
    account.refresh_from_db()
    assert account.status == "active"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_payments_cannot_overdraw_the_balance(creditor):
    """Two connections pay 70 on a balance of 120.50 at once: exactly one succeeds."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    (account,) = place(creditor, row(1))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def worker(key: str) -> None:
        try:
            barrier.wait()
            pay(Account.objects.get(pk=account.pk), "70.00", key)
            outcomes.append("ok")
        except services.PaymentRefused:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(f"c{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused"]
    account.refresh_from_db()
    assert account.current_balance == Decimal("50.50")
    assert Payment.objects.filter(account=account).count() == 1
