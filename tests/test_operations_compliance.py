"""The Compliance page and its rollups: contact checks answered by the real compliance
service (allowed, rescheduled by a window or a cap, blocked by a flag), the rollups refreshed,
and the page read by agency staff and by two creditors' staff, each seeing their own."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from accounts.tests.factories import place, row, staff_client
from collections_site.operations.models import ComplianceDay, ComplianceReasonDay
from collections_site.operations.rollups import rollups_refresh
from compliance.models import ComplianceDecision
from compliance.services import contact_check, contact_record
from messaging.tests import conftest as messaging_fixtures

pytestmark = pytest.mark.django_db

_compliance_rules_fresh = messaging_fixtures._compliance_rules_fresh
clock = messaging_fixtures.clock

URL = "/admin/operations/compliance/"
CAP = "US-MA.phone_cap_residence"


@pytest.fixture
def checks(clock, creditor, other_creditor):
    """The first creditor's US-MA debtors: an e-mail allowed now; an e-mail at 3 a.m. local
    (rescheduled by the hours rule); a third text after two this week (rescheduled by the
    Massachusetts cap); a debtor who asked us to stop (blocked). The other creditor: one
    e-mail allowed."""
    ok, night, texted, ceased = place(
        creditor, row(1), row(2), row(3), row(4, debtor={"flags": ["cease_communication"]})
    )
    (theirs,) = place(other_creditor, row("x"))
    now = clock.now  # 11:00 in Boston
    contact_check(debtor=ok.debtor, account=ok, channel="email", at=now)
    contact_check(debtor=night.debtor, account=night, channel="email", at=now + timedelta(hours=16))
    for hours in (1, 2):
        ago = now - timedelta(hours=hours)
        contact_record(
            debtor=texted.debtor, account=texted, channel="sms", at=ago, outcome="delivered",
            source="test",
        )  # fmt: skip
    capped = contact_check(debtor=texted.debtor, account=texted, channel="sms", at=now)
    assert CAP in [r["code"] for r in capped.reasons], capped.reasons
    blocked = contact_check(debtor=ceased.debtor, account=ceased, channel="email", at=now)
    assert not blocked.allowed and blocked.next_allowed_at is None
    contact_check(debtor=theirs.debtor, account=theirs, channel="email", at=now)
    # `created_at` defaults to the real clock (the model holds `timezone.now` itself, not the
    # test's clock): put the audit rows at the test's now, when they were made.
    ComplianceDecision.objects.update(created_at=now)
    return {"creditor": creditor, "other": other_creditor}


def test_the_refresh_counts_outcomes_and_each_reason_code(checks):
    (result,) = [r for r in rollups_refresh() if r.name == "compliance"]
    assert result.days == 1
    ours = {"allowed": 0, "rescheduled": 0, "blocked": 0}
    for r in ComplianceDay.objects.filter(creditor=checks["creditor"]):  # a row per channel
        ours[r.outcome] += r.decisions
    assert ours == {"allowed": 1, "rescheduled": 2, "blocked": 1}
    reasons = {r.code: r for r in ComplianceReasonDay.objects.filter(creditor=checks["creditor"])}
    assert reasons[CAP].kind == "cap" and reasons[CAP].outcome == "rescheduled"
    assert "209 CMR 18.16" in reasons[CAP].citation
    assert reasons["US.cease_communication"].outcome == "blocked"
    assert reasons["US.hours"].kind == "window"
    assert not ComplianceReasonDay.objects.filter(creditor=checks["other"]).exists()
    rollups_refresh(full=True)  # a rebuild writes the same rows
    assert ComplianceReasonDay.objects.filter(creditor=checks["creditor"]).count() == len(reasons)


def test_the_page_lists_the_rules_with_their_citations_and_links(checks):
    rollups_refresh()
    client = staff_client(agency=True)
    html = client.get(URL).content.decode()
    assert "The rules that refuse most, in the period" in html
    assert "209 CMR 18.16" in html
    assert "Checks stopped by a frequency cap, by rule" in html
    # Refused share: 3 of 5 checks, with an interval.
    assert "60% [" in html
    # The cap's row in the rules table opens exactly the decision it counts (the whole
    # period; the chart's weekly points each open their week).
    links = set(re.findall(r'href="([^"]*compliancedecision/\?[^"]*code=US-MA[^"]*)"', html))
    whole = ("created_at__gte=2025-12-11", "created_at__lt=2026-03-11")
    (link,) = [u for u in links if all(w in u for w in whole) and "outcome" not in u]
    listing = client.get(link.replace("&amp;", "&"))
    assert listing.status_code == 200
    assert listing.context_data["cl"].result_count == 1
    # And every check stopped by a cap.
    listing = client.get(
        "/django-admin/compliance/compliancedecision/",
        {"rule_kind": "cap", "outcome": "rescheduled"},
    )
    assert listing.context_data["cl"].result_count == 1


def test_each_creditors_staff_see_their_own_checks_only(checks):
    rollups_refresh()
    ours = staff_client(checks["creditor"]).get(URL).content.decode()
    assert CAP in ours
    theirs = staff_client(checks["other"]).get(URL).content.decode()
    assert CAP not in theirs and "No check was refused in this period." in theirs
    forced = staff_client(checks["other"]).get(URL, {"creditor": checks["creditor"].pk})
    assert CAP not in forced.content.decode()
    # The decisions' list, reached from a link, is the other creditor's only.
    listing = staff_client(checks["other"]).get(
        "/django-admin/compliance/compliancedecision/", {"code": CAP}
    )
    assert listing.context_data["cl"].result_count == 0


def test_the_page_reads_the_rollups_in_a_fixed_number_of_queries(
    checks, django_assert_max_num_queries
):
    rollups_refresh()
    client = staff_client(agency=True)
    client.get(URL)
    with django_assert_max_num_queries(17):  # the same whatever the number of rows
        assert client.get(URL).status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        {"start": "2026-13-01"},
        {"start": "2026-06-10", "end": "2026-06-01"},
        {"channel": "pigeon"},
        {"creditor": "abc"},
        {"region": "XX-NOPE"},
        {"region": "US-MA", "channel": "sms"},
    ],
)
def test_bad_filters_are_form_errors_not_errors(checks, query):
    rollups_refresh()
    assert staff_client(agency=True).get(URL, query).status_code == 200


@pytest.mark.parametrize("query", [{"code": "<b>"}, {"rule_kind": "nope"}, {"outcome": "x"}])
def test_the_decisions_list_takes_any_filter_value(checks, query):
    listing = staff_client(agency=True).get("/django-admin/compliance/compliancedecision/", query)
    assert listing.status_code == 200
