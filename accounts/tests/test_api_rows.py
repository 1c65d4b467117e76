"""`accounts.api_rows` has PostgreSQL write the long lists' rows: each must be exactly what its
serializer writes for the same object (`AccountOutput`, `PaymentOutput`, `EventOutput`), the
same keys in the same order and the same values, whatever the currency or the missing
values."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from accounts import api_rows, money, services
from accounts.models import Account, Payment
from accounts.serializers import AccountOutput, PaymentOutput
from accounts.tests.factories import place, row
from accounts.webhooks.models import WebhookEvent
from accounts.webhooks.serializers import EventOutput

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(creditor):
    """Accounts in currencies of 0, 2 and 3 decimals, with and without a due date, debtors with
    and without flags, a payment each, and the events all this recorded."""
    undated = row(2, currency="JPY", original_amount="5000")
    del undated["due_date"]
    accounts = place(
        creditor,
        row(1),
        undated,
        row(3, currency="BHD", original_amount="12.345", description="Ünïcode — “quotes”"),
        row(4, debtor={"region": "FR", "phone": "+33612345678", "flags": ["opted_out_sms"]}),
    )
    for n, account in enumerate(accounts):
        services.payment_record(
            account=account, amount=Decimal("1"), idempotency_key=f"k{n}", method="card", actor="t"
        )
    services.account_recall(account=Account.objects.get(pk=accounts[3].pk), actor="t")
    # A whole second (no microseconds), a half cent to round up, and an odd character.
    Account.objects.filter(pk=accounts[0].pk).update(
        due_date=date(2026, 2, 1),
        placed_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        current_balance=Decimal("99.9950"),
        description='Tab\tquote" backslash\\ bell\x07 \u2028',
    )
    return accounts


def rows(queryset, row) -> list[dict]:
    return [json.loads(text) for text in api_rows.rows_json(queryset, row)]


def same(ours: list[dict], theirs) -> None:
    """Equal values, and the keys in the same order at every level."""
    assert json.dumps(ours) == json.dumps(theirs)


def test_accounts_rows_are_what_account_output_writes(book, creditor):
    accounts = Account.objects.filter(creditor=creditor).order_by("id")
    ours = rows(accounts, api_rows.account)
    assert [a["original_amount"] for a in ours] == ["120.50", "5000", "12.345", "120.50"]
    assert ours[0]["current_balance"] == "100.00"  # 99.995 rounded half up
    assert ours[0]["placed_at"] == "2026-01-02T03:04:05Z"
    same(ours, AccountOutput(accounts.select_related("debtor"), many=True).data)


def test_payments_rows_are_what_payment_output_writes(book, creditor):
    payments = Payment.objects.filter(creditor=creditor).order_by("id")
    ours = rows(payments, api_rows.payment)
    assert [p["amount"] for p in ours] == ["1.00", "1", "1.000", "1.00"]
    same(ours, PaymentOutput(payments.select_related("account"), many=True).data)


def test_events_rows_are_what_event_output_writes(book, creditor):
    events = WebhookEvent.objects.filter(creditor=creditor).order_by("created_at", "id")
    ours = rows(events, api_rows.event)
    assert {e["type"] for e in ours} >= {"payment.succeeded", "account.recalled"}
    same(ours, EventOutput(events, many=True).data)


def test_every_currency_is_rounded_to_its_minor_units(creditor):
    """The database's table of minor units is `money.minor_units`, currency by currency."""
    currencies = sorted(money.known_currencies())
    place(creditor, *(row(c, currency=c, original_amount="1") for c in currencies))
    Account.objects.update(original_amount=Decimal("2.34565"))  # stored as 2.3457
    written = {
        a["currency"]: a["original_amount"]
        for a in rows(Account.objects.order_by("id"), api_rows.account)
    }
    assert written == {c: str(money.quantize(Decimal("2.3457"), c)) for c in currencies}
