"""The cockpit's Recovery and Compliance pages in Chromium, in the light and the dark theme:
they load under the admin's Content-Security-Policy with no violation, their charts are drawn
(SVG with linked marks) and readable, and their tables follow. Screenshots go to the folder
named by `SCREENSHOT_DIR` when it is set (CI keeps them as artifacts)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.models import PlanFrequency
from accounts.services import payment_record, plan_create
from collections_site.operations.rollups import rollups_refresh
from compliance.models import ComplianceDecision
from compliance.services import contact_check, contact_record
from tests.browser import test_csp_browser as csp_browser
from tests.browser.axe import assert_accessible
from tests.browser.test_operations_browser import _screenshot

staff_page = csp_browser.staff_page
clock = csp_browser.clock
committed_baseline = csp_browser.committed_baseline
place_one = csp_browser.place_one

pytestmark = pytest.mark.browser


def _history(clock, place_one) -> None:
    """Three monthly cohorts of accounts (USD and EUR), paid over the weeks since, two plans;
    and contact checks: allowed, out of hours, over the Massachusetts text cap, ceased."""
    now = clock.now
    n = 0
    for months_ago in (2, 1, 0):
        clock.set(now - timedelta(days=30 * months_ago + 1))
        for i in range(6):
            account = place_one(currency="EUR" if i == 5 else "USD")
            for week in range(0, 4 * months_ago + 1, 2):
                paid = clock.now + timedelta(days=7 * week + i)
                if paid < now and i not in (2, 3):
                    n += 1
                    payment_record(
                        account=account,
                        amount=Decimal("9.50"),
                        method="card",
                        idempotency_key=f"b{n}",
                        actor="test",
                        received_at=paid,
                    )
            if i == 4:
                plan_create(
                    account=account,
                    frequency=PlanFrequency.WEEKLY,
                    count=3,
                    first_due=clock.now.date() + timedelta(days=2),
                    actor="test",
                )
    clock.set(now)
    ok, night, texted, ceased = (place_one() for _ in range(4))
    ceased.debtor.flags = ["cease_communication"]
    ceased.debtor.save(update_fields=["flags"])
    contact_check(debtor=ok.debtor, account=ok, channel="email", at=now)
    contact_check(debtor=night.debtor, account=night, channel="email", at=now + timedelta(hours=16))
    for hours in (1, 2):
        contact_record(
            debtor=texted.debtor,
            account=texted,
            channel="sms",
            at=now - timedelta(hours=hours),
            outcome="delivered",
            source="test",
        )
    for _ in range(3):
        contact_check(debtor=texted.debtor, account=texted, channel="sms", at=now)
    contact_check(debtor=ceased.debtor, account=ceased, channel="sms", at=now)
    ComplianceDecision.objects.update(created_at=now)  # the model's default reads the real clock
    rollups_refresh()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_recovery_and_compliance_pages_read_in_both_themes_under_the_csp(
    staff_page, live_server, clock, place_one, scheme
):
    page = staff_page
    _history(clock, place_one)
    page.set_viewport_size({"width": 1100, "height": 5200})  # the whole page in one shot
    page.emulate_media(color_scheme=scheme)
    for name, charts in (("recovery", 4), ("compliance", 2)):
        response = page.goto(f"{live_server.url}/admin/operations/{name}/")
        assert response.status == 200
        assert "content-security-policy" in response.headers
        page.wait_for_load_state("networkidle")
        csp_browser._collect(page)
        assert not page.csp_problems, "\n".join(page.csp_problems)
        assert page.locator("figure.ops-chart svg[role=group]").count() >= charts
        assert page.locator("figure.ops-chart svg a").count() > 0  # marks link to their rows
        assert page.locator("[data-headline]").count() >= 3
        # The charts' text stands out from the page behind it, in either theme.
        tick, ground = page.evaluate(
            """() => [getComputedStyle(document.querySelector('.ops-chart .ops-tick')).fill,
                      getComputedStyle(document.body).backgroundColor]"""
        )
        assert tick != ground
        _screenshot(page, f"operations-{name}-{scheme}.png")
        assert_accessible(page, f"cockpit {name} ({scheme})")
