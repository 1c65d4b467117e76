"""The Recovery page and its rollups: accounts placed, paid and put in plans through the real
services, the rollups refreshed as the scheduled task does, and the page read by agency staff
and by two creditors' staff, each seeing their own money only."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.models import AccountStatus, PlanFrequency
from accounts.services import payment_record, plan_create
from accounts.services.plans import installments_miss
from accounts.tests.factories import place, row, staff_client
from collections_site.operations.models import (
    AccountStatusDay,
    CollectedDay,
    InstalmentDay,
    PlacementDay,
)
from collections_site.operations.rollups import rollups_refresh
from messaging.tests import conftest as messaging_fixtures

pytestmark = pytest.mark.django_db

_compliance_rules_fresh = messaging_fixtures._compliance_rules_fresh
clock = messaging_fixtures.clock

URL = "/admin/operations/recovery/"


def _pay(account, amount: str, key: str):
    return payment_record(
        account=account, amount=Decimal(amount), idempotency_key=key, method="card", actor="test"
    )[0]


@pytest.fixture
def money(clock, creditor, other_creditor):
    """The first creditor (USD): one account part-paid, one paid in full, one in a weekly plan
    whose first instalment is paid on its due day and second missed. The other creditor
    (EUR): one account part-paid."""
    part, full, planned = place(creditor, row(1), row(2), row(3))
    (theirs,) = place(other_creditor, row("x", currency="EUR"))
    _pay(part, "20.00", "p1")
    _pay(full, "120.50", "p2")
    _pay(theirs, "7.25", "p3")
    first_due = clock.now.date() + timedelta(days=1)
    plan = plan_create(
        account=planned, frequency=PlanFrequency.WEEKLY, count=4, first_due=first_due,
        actor="test",
    )  # fmt: skip
    first, second = plan.installments.order_by("sequence")[:2]
    clock.set(clock.now + timedelta(days=1))
    _pay(planned, f"{first.amount:.2f}", "p4")
    clock.set(clock.now + timedelta(days=9))  # the second instalment's day has passed
    installments_miss(plan_id=plan.pk, cutoff=clock.now.date(), pause_end=None, actor="test",
                      data={})  # fmt: skip
    return {"creditor": creditor, "other": other_creditor, "plan": plan, "first": first,
            "second": second}  # fmt: skip


def test_the_refresh_rolls_up_money_per_currency_placements_statuses_and_instalments(money):
    results = {r.name: r for r in rollups_refresh()}
    assert results["payments"].days == 2  # received on the first and the second day
    creditor, other = money["creditor"], money["other"]
    ours = CollectedDay.objects.filter(creditor=creditor)
    first_amount = money["first"].amount
    assert sum(r.amount for r in ours) == Decimal("140.50") + first_amount
    assert {r.currency for r in ours} == {"USD"}
    assert [(r.currency, r.amount) for r in CollectedDay.objects.filter(creditor=other)] == [
        ("EUR", Decimal("7.25"))
    ]
    placed = PlacementDay.objects.get(creditor=creditor)
    assert (placed.accounts, placed.paying, placed.resolved) == (3, 3, 1)
    assert placed.placed_amount == Decimal("361.50")
    statuses = {r.status: r.accounts for r in AccountStatusDay.objects.filter(creditor=creditor)}
    assert statuses == {AccountStatus.ACTIVE: 1, AccountStatus.PAID: 1, AccountStatus.IN_PLAN: 1}
    outcomes = {(r.day, r.outcome): r.instalments for r in InstalmentDay.objects.all()}
    assert outcomes[(money["first"].due_date, "on_time")] == 1
    assert outcomes[(money["second"].due_date, "missed")] == 1
    assert sum(n for (_, o), n in outcomes.items() if o == "open") == 2


def test_a_late_payment_moves_its_instalment_and_a_rerun_changes_nothing(money, clock):
    rollups_refresh()
    clock.set(clock.now + timedelta(hours=1))
    overlap = {r.name: r.days for r in rollups_refresh()}
    assert overlap["instalments"] == 4  # missed just before the watermark: read once more
    quiet = {r.name: r.days for r in rollups_refresh()}
    assert quiet["payments"] == quiet["instalments"] == quiet["placements"] == 0
    assert quiet["statuses"] == 1  # today's snapshot is taken at every refresh
    clock.set(clock.now + timedelta(hours=1))
    _pay(money["plan"].account, f"{money['second'].amount:.2f}", "p5")  # paid, late
    changed = {r.name: r.days for r in rollups_refresh()}
    assert changed["payments"] == 1
    assert changed["placements"] == 0  # the account had paid before: its placement row stands
    assert changed["instalments"] == 4  # the plan's due days: its account changed
    assert InstalmentDay.objects.get(day=money["second"].due_date).outcome == "late"
    before = list(InstalmentDay.objects.values_list("day", "outcome", "instalments"))
    rollups_refresh(full=True)
    after = list(InstalmentDay.objects.values_list("day", "outcome", "instalments"))
    assert sorted(before) == sorted(after)


def test_the_page_shows_each_currency_apart_with_links_to_the_payments(money):
    rollups_refresh()
    html = staff_client(agency=True).get(URL).content.decode()
    assert "Collected per week, USD" in html and "Collected per week, EUR" in html
    assert "7.25 EUR" in html
    assert "/django-admin/accounts/payment/?" in html and "currency=USD" in html
    # Liquidation: one cohort per currency, placed this month.
    assert "Liquidation by placement month, USD" in html
    assert "placed=2026-03" in html
    # Paid on time: 1 of 2 instalments paid or missed, with its interval.
    assert "Instalments paid on time" in html
    assert "50% [" in html
    assert "Accounts by status at the end of each day" in html


def test_each_creditors_staff_see_their_own_money_only(money):
    rollups_refresh()
    # As words: three letters as a bare substring may turn up in the page's random CSRF token.
    ours = staff_client(money["creditor"]).get(URL).content.decode()
    assert "USD" in ours and not re.search(r"\bEUR\b", ours)
    theirs = staff_client(money["other"]).get(URL).content.decode()
    assert "7.25 EUR" in theirs and not re.search(r"\bUSD\b", theirs)
    # Asking for the other creditor by id changes nothing.
    forced = staff_client(money["other"]).get(URL, {"creditor": money["creditor"].pk})
    assert not re.search(r"\bUSD\b", forced.content.decode())


def test_the_payment_links_open_the_payments_they_count(money):
    rollups_refresh()
    client = staff_client(agency=True)
    html = client.get(URL).content.decode()
    links = re.findall(r'href="(/django-admin/accounts/payment/\?[^"]*placed=2026-03[^"]*)"', html)
    (usd,) = {link for link in links if "currency=USD" in link}  # the dot and its table cell
    listing = client.get(usd.replace("&amp;", "&"))
    assert listing.status_code == 200
    # The USD cohort of March: the part payment, the full one and the instalment.
    assert listing.context_data["cl"].result_count == 3


def test_the_page_reads_the_rollups_in_a_fixed_number_of_queries(
    money, django_assert_max_num_queries
):
    rollups_refresh()
    client = staff_client(agency=True)
    client.get(URL)  # warm the session and permission caches
    with django_assert_max_num_queries(19):  # the same whatever the number of rows
        assert client.get(URL).status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        {"start": "2026-13-01"},
        {"start": "2026-06-10", "end": "2026-06-01"},
        {"channel": "pigeon"},
        {"channel": "sms"},
        {"creditor": "abc"},
        {"region": "XX-NOPE"},
        {"start": "1999-01-01", "end": "2001-01-01"},
    ],
)
def test_bad_filters_are_form_errors_not_errors(money, query):
    rollups_refresh()
    assert staff_client(agency=True).get(URL, query).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/django-admin/accounts/payment/?placed=garbage",
        "/django-admin/accounts/payment/?placed=2026-13",
        "/django-admin/accounts/payment/?region=XX-NOPE",
        "/django-admin/accounts/paymentplan/?due_week=garbage",
        "/django-admin/accounts/account/?region=%3Cb%3E",
    ],
)
def test_the_admin_lists_the_links_open_take_any_value(money, path):
    assert staff_client(agency=True).get(path).status_code == 200


def test_the_plan_adherence_link_opens_the_plans_with_an_instalment_due_that_week(money):
    client = staff_client(money["creditor"])
    monday = money["second"].due_date - timedelta(days=money["second"].due_date.weekday())
    listing = client.get("/django-admin/accounts/paymentplan/", {"due_week": monday.isoformat()})
    assert [p.pk for p in listing.context_data["cl"].result_list] == [money["plan"].pk]
    other = staff_client(money["other"]).get(
        "/django-admin/accounts/paymentplan/", {"due_week": monday.isoformat()}
    )
    assert other.context_data["cl"].result_count == 0


def test_a_first_payment_rebuilds_its_placement_day_and_a_second_does_not(money, clock):
    (fresh,) = place(money["creditor"], row(9))
    rollups_refresh()

    def paying() -> int:
        return PlacementDay.objects.get(day=fresh.placed_at.date(), creditor=fresh.creditor).paying

    assert paying() == 0
    clock.set(clock.now + timedelta(hours=1))
    rollups_refresh()  # the overlap
    clock.set(clock.now + timedelta(hours=1))
    _pay(fresh, "1.00", "first")
    assert {r.name: r.days for r in rollups_refresh()}["placements"] == 1
    assert paying() == 1
    clock.set(clock.now + timedelta(hours=1))
    rollups_refresh()
    clock.set(clock.now + timedelta(hours=1))
    _pay(fresh, "1.00", "second")
    assert {r.name: r.days for r in rollups_refresh()}["placements"] == 0
