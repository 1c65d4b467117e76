"""`accounts.api_rows` has PostgreSQL write the long lists' rows: each must be exactly what its
serializer writes for the same object (`AccountOutput`, `PaymentOutput`, `EventOutput`), the
same keys in the same order and the same values, whatever the currency or the missing
values. On other databases (SQLite) the lists are written by those serializers themselves,
and the answers must be the same."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from rest_framework.renderers import JSONRenderer

from accounts import api_rows, money, services
from accounts.models import Account, Payment
from accounts.serializers import AccountOutput, PaymentOutput
from accounts.tests.factories import place, row
from accounts.webhooks.models import WebhookEvent
from accounts.webhooks.serializers import EventOutput

pytestmark = pytest.mark.django_db
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL writes these rows"
)


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


@postgresql_only
def test_accounts_rows_are_what_account_output_writes(book, creditor):
    accounts = Account.objects.filter(creditor=creditor).order_by("id")
    ours = rows(accounts, api_rows.account)
    assert [a["original_amount"] for a in ours] == ["120.50", "5000", "12.345", "120.50"]
    assert ours[0]["current_balance"] == "100.00"  # 99.995 rounded half up
    assert ours[0]["placed_at"] == "2026-01-02T03:04:05Z"
    same(ours, AccountOutput(accounts.select_related("debtor"), many=True).data)


@postgresql_only
def test_payments_rows_are_what_payment_output_writes(book, creditor):
    payments = Payment.objects.filter(creditor=creditor).order_by("id")
    ours = rows(payments, api_rows.payment)
    assert [p["amount"] for p in ours] == ["1.00", "1", "1.000", "1.00"]
    same(ours, PaymentOutput(payments.select_related("account"), many=True).data)


@postgresql_only
def test_events_rows_are_what_event_output_writes(book, creditor):
    events = WebhookEvent.objects.filter(creditor=creditor).order_by("created_at", "id")
    ours = rows(events, api_rows.event)
    assert {e["type"] for e in ours} >= {"payment.succeeded", "account.recalled"}
    same(ours, EventOutput(events, many=True).data)


@postgresql_only
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


# --- The answers themselves -------------------------------------------------------------------
# The tests above hold the rows; these hold what a client reads: every page of each list, as
# the API answers it, against the serializer's output rendered by DRF for the same objects.


@pytest.fixture(
    params=["database", "serializer"] if connection.vendor == "postgresql" else ["serializer"]
)
def written_by(request, monkeypatch):
    """Who writes the rows: PostgreSQL (`api_rows`), or, as on any other database, the
    serializer (on PostgreSQL too, by making the connection look like another's)."""
    if request.param == "serializer" and connection.vendor == "postgresql":
        monkeypatch.setattr(connection, "vendor", "sqlite")
    return request.param


@pytest.fixture
def ledger(creditor, written_by):
    """Every kind of value the lists carry: amounts of 0, 2, 3 and 4 decimals (whole, rounded
    half up, and paid down to zero), a missing due date and a blank description, debtors with
    no flags and with several, date-times given in other time zones, with and without
    microseconds, and events whose objects nest others (a debtor in an account, a plan's
    instalments) or carry empty lists and nulls."""
    accounts = place(
        creditor,
        row("usd", original_amount="120.50", description=""),
        row("jpy", currency="JPY", original_amount="5000"),
        row("kwd", currency="KWD", original_amount="7.125", debtor={"flags": []}),
        row("clf", currency="CLF", original_amount="3.1416"),
        row(
            "eur",
            currency="EUR",
            original_amount="99.99",
            debtor={"region": "DE", "flags": ["opted_out_sms", "opted_out_email"]},
        ),
    )
    usd, jpy, kwd, clf, eur = accounts
    Account.objects.filter(pk=usd.pk).update(due_date=None, current_balance=Decimal("0.0050"))
    new_york, tokyo = ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")
    Account.objects.filter(pk=kwd.pk).update(
        placed_at=datetime(2026, 3, 8, 1, 59, 59, 999999, tzinfo=new_york),  # before DST
        status_changed_at=datetime(2026, 3, 8, 3, 0, tzinfo=new_york),  # after DST
    )
    Account.objects.filter(pk=clf.pk).update(
        placed_at=datetime(2026, 1, 1, 0, 0, 0, 5, tzinfo=tokyo)  # the day before in UTC
    )
    services.payment_record(
        account=jpy, amount=Decimal("5000"), idempotency_key="jpy", method="card", actor="t"
    )  # paid: a balance of zero yen
    services.payment_record(
        account=kwd, amount=Decimal("0.001"), idempotency_key="kwd", method="bank", actor="t"
    )
    services.payment_record(
        account=clf, amount=Decimal("1.0001"), idempotency_key="clf", method="card", actor="t"
    )
    Payment.objects.filter(account=clf).update(
        received_at=datetime(2026, 2, 28, 23, 30, tzinfo=ZoneInfo("Pacific/Kiritimati"))
    )
    services.plan_create(
        account=Account.objects.get(pk=eur.pk),
        frequency="monthly",
        count=3,
        first_due=date.today() + timedelta(days=3),
        actor="t",
    )
    services.debtor_preferences_set(
        debtor=kwd.debtor,
        preferred_channel="email",
        hours=(None, None),
        opted_out=[],
        channels=["sms", "email"],
        actor="t",
        where="in a test",
    )
    services.account_recall(account=Account.objects.get(pk=usd.pk), actor="t")
    return accounts


def listed(api, url: str) -> list[dict]:
    """Every result of a list, two to a page, following the `next` links to the end."""
    results: list[dict] = []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        page = json.loads(response.content)
        assert list(page) == ["next", "previous", "results"]
        results += page["results"]
        url = page["next"]
    return results


def rendered(data) -> list[dict]:
    """A serializer's output as the API would send it (DRF's renderer), read back."""
    return json.loads(JSONRenderer().render(data))


def test_accounts_list_answers_what_account_output_writes(ledger, api, creditor):
    answered = listed(api, "/api/v1/accounts/?page_size=2")
    accounts = Account.objects.filter(creditor=creditor).select_related("debtor")
    expected = rendered(AccountOutput(accounts.order_by("updated_at", "id"), many=True).data)
    same(answered, expected)
    by_ref = {a["external_ref"]: a for a in answered}
    assert by_ref["ACC-usd"]["current_balance"] == "0.01"  # half a cent rounds up
    assert by_ref["ACC-usd"]["due_date"] is None and by_ref["ACC-usd"]["description"] == ""
    assert by_ref["ACC-jpy"]["current_balance"] == "0"
    assert by_ref["ACC-kwd"]["current_balance"] == "7.124"
    assert by_ref["ACC-kwd"]["debtor"]["flags"] == []
    assert by_ref["ACC-kwd"]["placed_at"] == "2026-03-08T06:59:59.999999Z"
    assert by_ref["ACC-kwd"]["status_changed_at"] == "2026-03-08T07:00:00Z"
    assert by_ref["ACC-clf"]["original_amount"] == "3.1416"
    assert by_ref["ACC-clf"]["placed_at"] == "2025-12-31T15:00:00.000005Z"
    assert by_ref["ACC-eur"]["debtor"]["flags"] == ["opted_out_email", "opted_out_sms"]


def test_payments_list_answers_what_payment_output_writes(ledger, api, creditor):
    answered = listed(api, "/api/v1/payments/?page_size=2")
    payments = Payment.objects.filter(creditor=creditor).select_related("account")
    expected = rendered(PaymentOutput(payments.order_by("received_at", "id"), many=True).data)
    same(answered, expected)
    assert {p["amount"] for p in answered} == {"5000", "0.001", "1.0001"}
    assert "2026-02-28T09:30:00Z" in {p["received_at"] for p in answered}


def test_events_list_answers_what_event_output_writes(ledger, api, creditor):
    answered = listed(api, "/api/v1/events/?page_size=2")
    events = WebhookEvent.objects.filter(creditor=creditor).order_by("created_at", "id")
    same(answered, rendered(EventOutput(events, many=True).data))
    by_type = {e["type"]: e["data"]["object"] for e in answered}
    assert len(by_type["plan.created"]["instalments"]) == 3
    preferences = by_type["debtor.contact_preferences_changed"]
    assert preferences["opted_out"] == [] and preferences["preferred_hours_start"] is None
    assert {"account.placed", "payment.succeeded", "account.recalled"} <= set(by_type)
