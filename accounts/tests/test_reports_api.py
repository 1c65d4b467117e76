"""The creditor API's portfolio summary and monthly statements: figures from accounts placed
and payments recorded through the real services, per currency, only the caller's own; CSV
and JSON; bad parameters answered 400 with the field named; answers match the schema."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts import services
from accounts.models import Payment, PaymentStatus
from accounts.tests import test_api_schema
from accounts.tests.factories import place, row

# The schema tests' fixtures: `check` validates an answer against the generated schema.
schema = test_api_schema.schema
check = test_api_schema.check

pytestmark = pytest.mark.django_db

SUMMARY = "/api/v1/reports/summary/"
STATEMENTS = "/api/v1/statements/"


def _pay(account, amount: str, key: str, when: datetime) -> Payment:
    payment, _ = services.payment_record(
        account=account, amount=Decimal(amount), idempotency_key=key, method="card", actor="t",
        received_at=when,
    )  # fmt: skip
    return payment


@pytest.fixture
def book(creditor, other_creditor):
    """Three USD accounts and one EUR account placed in March 2026 (one of them in another
    region), one USD account placed in May; payments in March, April and May; and another
    creditor's account and payment."""
    march = datetime(2026, 3, 10, 12, tzinfo=UTC)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("django.utils.timezone.now", lambda: march)
        a, b, c = place(
            creditor, row(1, original_amount="100.00"), row(2, original_amount="200.00"),
            row(3, original_amount="50.00", debtor={"region": "US-NY"}),
        )  # fmt: skip
        (eur,) = place(creditor, row(4, currency="EUR", original_amount="80.00"))
        (theirs,) = place(other_creditor, row(9, original_amount="999.00"))
    may = datetime(2026, 5, 2, 9, tzinfo=UTC)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("django.utils.timezone.now", lambda: may)
        (late,) = place(creditor, row(5, original_amount="40.00"))
    _pay(a, "100.00", "a1", datetime(2026, 3, 20, tzinfo=UTC))  # pays in full
    _pay(b, "30.00", "b1", datetime(2026, 3, 31, 23, 59, tzinfo=UTC))
    _pay(b, "20.00", "b2", datetime(2026, 4, 1, 0, 1, tzinfo=UTC))
    _pay(eur, "8.00", "e1", datetime(2026, 3, 21, tzinfo=UTC))
    _pay(late, "10.00", "l1", datetime(2026, 5, 3, tzinfo=UTC))
    _pay(theirs, "500.00", "t1", datetime(2026, 3, 22, tzinfo=UTC))
    return {"a": a, "b": b, "c": c, "eur": eur, "late": late}


def test_the_summary_counts_march_placements_and_what_was_collected_on_them(api, book, check):
    body = check(SUMMARY, "get", api.get(SUMMARY, {"from": "2026-03-01", "to": "2026-03-31"}))
    totals = {t["currency"]: t for t in body["totals"]}
    assert totals["USD"]["accounts"] == 3
    assert totals["USD"]["placed"] == "350.00"
    # By the end of March: 100 on a, 30 on b (b's April payment is after the period).
    assert totals["USD"]["collected_on_placed"] == "130.00"
    assert totals["USD"]["recovery_rate"] == pytest.approx(130 / 350, abs=1e-6)
    assert totals["EUR"] == {
        "currency": "EUR", "accounts": 1, "placed": "80.00", "collected_on_placed": "8.00",
        "balance": "72.00", "recovery_rate": 0.1,
    }  # fmt: skip
    # Received in March on any account, never the other creditor's 500.
    assert {c["currency"]: c["amount"] for c in body["collected"]} == {
        "USD": "130.00", "EUR": "8.00",
    }  # fmt: skip
    regions = {(r["region"], r["currency"]): r["accounts"] for r in body["by_region"]}
    assert regions == {("US-MA", "USD"): 2, ("US-NY", "USD"): 1, ("US-MA", "EUR"): 1}
    statuses = {(s["status"], s["currency"]): s["accounts"] for s in body["by_status"]}
    assert statuses[("paid", "USD")] == 1 and statuses[("active", "USD")] == 2
    assert [(c["month"], c["currency"]) for c in body["by_cohort"]] == [
        ("2026-03", "EUR"), ("2026-03", "USD"),
    ]  # fmt: skip


def test_a_longer_period_takes_the_later_cohort_and_payments_in(api, book):
    body = api.get(SUMMARY, {"from": "2026-03-01", "to": "2026-05-31"}).json()
    usd = next(t for t in body["totals"] if t["currency"] == "USD")
    assert (usd["accounts"], usd["placed"], usd["collected_on_placed"]) == (4, "390.00", "160.00")
    cohorts = {(c["month"], c["currency"]): c["collected_on_placed"] for c in body["by_cohort"]}
    assert cohorts[("2026-03", "USD")] == "150.00"
    assert cohorts[("2026-05", "USD")] == "10.00"


def test_the_other_creditor_sees_only_its_own(other_api, book):
    body = other_api.get(SUMMARY, {"from": "2026-03-01", "to": "2026-03-31"}).json()
    assert [(t["currency"], t["placed"]) for t in body["totals"]] == [("USD", "999.00")]
    statement = other_api.get(STATEMENTS, {"month": "2026-03"}).json()
    assert [p["amount"] for p in statement["payments"]] == ["500.00"]


def test_the_march_statement_lists_each_payment_and_totals_per_currency(api, book, check):
    body = check(STATEMENTS, "get", api.get(STATEMENTS, {"month": "2026-03"}))
    assert [(p["account"], p["amount"]) for p in body["payments"]] == [
        ("ACC-1", "100.00"), ("ACC-4", "8.00"), ("ACC-2", "30.00"),
    ]  # fmt: skip
    assert {t["currency"]: t["net"] for t in body["totals"]} == {"EUR": "8.00", "USD": "130.00"}
    april = api.get(STATEMENTS, {"month": "2026-04"}).json()
    assert [p["amount"] for p in april["payments"]] == ["20.00"]


def test_a_refunded_payment_stays_on_its_statement_and_comes_off_the_net(api, book):
    Payment.objects.filter(idempotency_key="b1").update(status=PaymentStatus.REFUNDED)
    usd = next(
        t for t in api.get(STATEMENTS, {"month": "2026-03"}).json()["totals"]
        if t["currency"] == "USD"
    )  # fmt: skip
    assert (usd["received"], usd["refunded"], usd["net"]) == ("130.00", "30.00", "100.00")


@pytest.mark.parametrize("how", ["query", "accept"])
def test_the_statement_as_csv(api, book, how):
    if how == "query":
        answer = api.get(STATEMENTS, {"month": "2026-03", "format": "csv"})
    else:
        answer = api.get(STATEMENTS, {"month": "2026-03"}, HTTP_ACCEPT="text/csv")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/csv")
    assert 'filename="statement-2026-03.csv"' in answer["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.content.decode())))
    assert [r["row"] for r in rows] == ["payment"] * 3 + ["total"] * 2
    assert rows[0]["account"] == "ACC-1" and rows[0]["amount"] == "100.00"
    assert {r["currency"]: r["net"] for r in rows if r["row"] == "total"} == {
        "EUR": "8.00", "USD": "130.00",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("url", "query", "field"),
    [
        (SUMMARY, {"from": "2026-04-01", "to": "2026-03-01"}, "from"),
        (SUMMARY, {"from": "2016-01-01", "to": "2026-03-01"}, "from"),
        (SUMMARY, {"from": "yesterday"}, "from"),
        (SUMMARY, {"to": "2026-02-30"}, "to"),
        (SUMMARY, {"from": "0001-01-01", "to": "0001-01-02"}, "from"),
        (SUMMARY, {"to": "9999-12-31"}, "to"),
        (STATEMENTS, {}, "month"),
        (STATEMENTS, {"month": "0000-01"}, "month"),
        (STATEMENTS, {"month": "9999-12"}, "month"),
        (STATEMENTS, {"month": "2026-13"}, "month"),
        (STATEMENTS, {"month": "2026-3"}, "month"),
        (STATEMENTS, {"month": "2026-03", "format": "xml"}, "format"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(api, url, query, field, check):
    answer = api.get(url, query)
    assert answer.status_code == 400
    assert field in check(url, "get", answer)


def test_a_csv_request_with_a_bad_month_gets_a_json_error(api):
    answer = api.get(STATEMENTS, {"month": "nope"}, HTTP_ACCEPT="text/csv")
    assert answer.status_code == 400
    assert answer.json() == {"month": ["This value does not match the required pattern."]}


def test_without_a_key_nothing_is_reported(client):
    assert client.get(SUMMARY).status_code == 401
    assert client.get(STATEMENTS, {"month": "2026-03", "format": "csv"}).status_code == 401
