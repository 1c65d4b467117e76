"""The cockpit's chart pages in Chromium, in the light and the dark theme: they load under the
admin's Content-Security-Policy with no violation (the charts are inline SVG, no script), the
charts are drawn in colour, their marks link to rows, and every chart has its data table.
Screenshots go to `SCREENSHOT_DIR` when it is set (CI keeps them as artifacts).

The rollups are filled directly with three months of counts (the rollups' own building is
tested in tests/test_operations_rollups.py); the pages read nothing else."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Creditor
from collections_site.operations.models import EngagementDay, SendTimeDay, TypologyDay
from tests.browser import test_csp_browser as csp_browser
from tests.browser.axe import assert_accessible
from tests.browser.test_operations_browser import _screenshot

staff_page = csp_browser.staff_page
committed_baseline = csp_browser.committed_baseline
make_variant = csp_browser.make_variant
reviewer = csp_browser.reviewer

pytestmark = pytest.mark.browser


@pytest.fixture
def history(committed_baseline, make_variant):
    """Ninety days of rollups: two channels, a policy arm that converts better than the
    control, send-time cells peaking in the early evening, four typologies."""
    creditor = Creditor.objects.create(name="Cockpit Energy", slug="cockpit-energy")
    email, sms = make_variant("email"), make_variant("sms")
    rng = random.Random(7)
    today = timezone.now().date()
    rows, cells, types = [], [], []
    for back in range(90):
        day = today - timedelta(days=back)
        for variant in (email, sms):
            for arm, share, rate in (("policy", 0.9, 0.06), ("control", 0.1, 0.04)):
                sent = int(400 * share) + rng.randint(0, 20)
                delivered = int(sent * 0.95)
                opened = int(delivered * 0.5)
                clicked = int(opened * 0.3)
                converted = int(sent * rate * rng.uniform(0.7, 1.3))
                rows.append(EngagementDay(
                    day=day, creditor=creditor, region="US-MA", channel=variant.channel,
                    variant=variant, stage="early", arm=arm, sent=sent, delivered=delivered,
                    opened=opened, clicked=clicked, converted=converted,
                ))  # fmt: skip
                for code in ("WAOR", "WIOE", "DACR", "DICE"):
                    types.append(TypologyDay(
                        day=day, creditor=creditor, region="US-MA", channel=variant.channel,
                        arm=arm, typology=code, sent=sent // 4,
                        converted=converted // 4 + (code == "WAOR"),
                    ))  # fmt: skip
        for hour in range(8, 21):
            sent = 30 + rng.randint(0, 10)
            rate = 0.06 if 17 <= hour <= 19 else 0.02  # the early evening converts best
            cells.append(SendTimeDay(
                day=day, creditor=creditor, region="US-MA", channel="email", arm="policy",
                local_weekday=day.weekday(), local_hour=hour, sent=sent,
                converted=int(sent * rate * rng.uniform(0.5, 1.5)),
            ))  # fmt: skip
    EngagementDay.objects.bulk_create(rows)
    SendTimeDay.objects.bulk_create(cells)
    TypologyDay.objects.bulk_create(types)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("section", ["engagement", "recommender"])
def test_the_chart_pages_read_in_both_themes_under_the_csp(
    staff_page, live_server, history, scheme, section
):
    page = staff_page
    page.set_viewport_size({"width": 1280, "height": 1600})
    page.emulate_media(color_scheme=scheme)
    response = page.goto(f"{live_server.url}/admin/operations/{section}/")
    assert response.status == 200
    assert "content-security-policy" in response.headers
    page.wait_for_selector("figure.ops-chart svg")
    page.wait_for_load_state("networkidle")
    csp_browser._collect(page)
    assert not page.csp_problems, "\n".join(page.csp_problems)
    # Drawn in colour (the stylesheet's series colours apply), not black shapes.
    fill = page.evaluate(
        "() => getComputedStyle(document.querySelector('.ops-bar, .ops-line')).fill"
        " + getComputedStyle(document.querySelector('.ops-line, .ops-bar')).stroke"
    )
    assert "rgb(0, 0, 0)" not in fill.replace("none", ""), fill
    # Each chart has its table; marks link to the outbox.
    assert page.locator("figure.ops-chart svg").count() <= page.locator("table.ops-table").count()
    assert page.locator("figure.ops-chart a[href*='/admin/messaging/outbox/']").count() > 0
    # A mark's link opens the rows it counts.
    href = page.locator("figure.ops-chart a").first.get_attribute("href")
    assert page.request.get(live_server.url + href).status == 200
    if section == "engagement":  # the send-time heatmap's cells open their messages
        cell = page.locator("figure.ops-chart a[href*='local_hour=']")
        assert cell.count() > 0
        href = cell.first.get_attribute("href")
        assert "local_weekday=" in href
        assert page.request.get(live_server.url + href).status == 200
    _screenshot(page, f"operations-{section}-{scheme}.png")
    assert_accessible(page, f"cockpit {section} ({scheme})")
