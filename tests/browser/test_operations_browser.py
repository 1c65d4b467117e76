"""The operations Health page in Chromium, in the light and the dark theme: it loads under the
admin's Content-Security-Policy with no violation, with its stylesheet applied (the verdict
is a banner, not bare text), its figures readable, and no WCAG 2.2 AA violation that axe-core
finds (tests/browser/axe.py). Screenshots go to the folder named by
`SCREENSHOT_DIR` when it is set (CI keeps them as artifacts)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from collections_site.operations.rollups import rollups_refresh
from messaging import services
from tests.browser import test_csp_browser as csp_browser
from tests.browser.axe import assert_accessible

# The CSP test's signed-in superuser page and its listeners, with the messaging fixtures.
staff_page = csp_browser.staff_page
clock = csp_browser.clock
committed_baseline = csp_browser.committed_baseline
make_variant = csp_browser.make_variant
place_one = csp_browser.place_one
reviewer = csp_browser.reviewer

pytestmark = pytest.mark.browser


def _screenshot(page, name: str) -> None:
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_health_page_reads_in_both_themes_under_the_csp(
    staff_page, live_server, clock, make_variant, place_one, scheme
):
    page = staff_page
    variant = make_variant("email")
    for _ in range(3):  # due now: handed over when they commit (tasks run in-process here)
        services.message_send(account=place_one(), variant=variant, planned_at=clock.now)
    later = clock.now + timedelta(hours=1)
    for _ in range(2):  # due in an hour: they wait for the dispatcher
        services.message_send(account=place_one(), variant=variant, planned_at=later)
    clock.set(later + timedelta(minutes=20))  # the dispatcher stopped: twenty minutes late
    rollups_refresh()  # the statuses that hold most messages are read from the rollup
    page.set_viewport_size({"width": 1024, "height": 1500})  # the whole page in one shot
    page.emulate_media(color_scheme=scheme)  # Wagtail's default theme follows the system
    response = page.goto(live_server.url + "/admin/operations/")
    assert "content-security-policy" in response.headers
    banner = page.wait_for_selector("[data-verdict='attention']")
    page.wait_for_load_state("networkidle")
    csp_browser._collect(page)
    assert not page.csp_problems, "\n".join(page.csp_problems)
    assert "The oldest due message is 20 min late" in banner.inner_text()
    # The stylesheet is applied: the banner has its coloured edge.
    edge = banner.evaluate("e => getComputedStyle(e).borderInlineStartWidth")
    assert edge == "8px", edge
    # The figures' text stands out from the page behind it, in either theme.
    text, ground = page.evaluate(
        """() => [getComputedStyle(document.querySelector('.ops-figures th')).color,
                  getComputedStyle(document.body).backgroundColor]"""
    )
    assert text != ground
    assert page.locator("a[href='/admin/messaging/outbox/?status=planned']").count() >= 1
    sent = page.locator("#ops-statuses-section tr", has_text="Sent")
    assert "as of 2026-03-10 16:20" in sent.inner_text()
    # The filter bar: region, channel and dates (a superuser sees every creditor: one here).
    for field in ("region", "channel", "start", "end"):
        assert page.locator(f"form.ops-filters [name='{field}']").is_visible(), field
    _screenshot(page, f"operations-health-{scheme}.png")
    # WCAG 2.2 AA as for the portal, over the whole page, Wagtail's own menus included.
    assert_accessible(page, f"Health page, {scheme} theme")
    # Applying a filter narrows the figures and their links; a bad date is marked, not fatal.
    page.select_option("form.ops-filters [name='channel']", "sms")
    page.fill("form.ops-filters [name='start']", "2026-03-10")
    page.click("form.ops-filters button[type='submit']")
    page.wait_for_load_state("networkidle")
    assert "channel=sms" in page.url and "start=2026-03-10" in page.url
    planned = page.locator("#ops-statuses-section a[href*='status=planned']")
    assert planned.inner_text() == "0"  # every message here is an e-mail
    assert "channel=sms" in planned.get_attribute("href")
    assert "created_from=2026-03-10" in planned.get_attribute("href")
    _screenshot(page, f"operations-health-filtered-{scheme}.png")
    assert_accessible(page, f"Health page, filtered, {scheme} theme")
