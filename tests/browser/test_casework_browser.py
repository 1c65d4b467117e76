"""Finding a debtor and reading their page in Chromium, in the light and the dark theme: the
admin's search box leads to the debtor, whose page loads under the admin's
Content-Security-Policy with no violation, its stylesheet applied and its tables readable.
Screenshots go to the folder named by `SCREENSHOT_DIR` when it is set (CI keeps them)."""

from __future__ import annotations

import pytest

from tests import privacy_life
from tests.browser import test_csp_browser as csp_browser
from tests.browser.axe import assert_accessible
from tests.browser.test_operations_browser import _screenshot

# The CSP test's signed-in superuser page and its listeners.
staff_page = csp_browser.staff_page
committed_baseline = csp_browser.committed_baseline

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_an_operator_finds_a_debtor_and_reads_their_page(
    staff_page, live_server, committed_baseline, life, scheme
):
    page = staff_page
    page.emulate_media(color_scheme=scheme)  # Wagtail's default theme follows the system
    page.goto(live_server.url + "/admin/")
    # The sidebar's search box searches debtors.
    box = page.locator("#menu-search-q")
    box.fill(privacy_life.LAST.lower()[:-2])  # part of the name, in lower case
    box.press("Enter")
    page.wait_for_url("**/admin/casework/debtors/?q=*")
    row = page.locator("table.listing tbody tr")
    assert row.count() == 1
    assert privacy_life.EMAIL in row.inner_text()
    _screenshot(page, f"casework-search-{scheme}.png")
    assert_accessible(page, f"casework-search ({scheme})")

    row.locator("td.title a").click()
    page.wait_for_selector("[data-testid='casework-page']")
    page.wait_for_load_state("networkidle")
    csp_browser._collect(page)
    assert not page.csp_problems, "\n".join(page.csp_problems)
    assert privacy_life.PHONE in page.locator(".cw-facts").first.inner_text()
    # The stylesheet is applied: the tables' header cells are bold and ruled.
    weight, rule = page.evaluate(
        """() => { const th = getComputedStyle(document.querySelector('.cw-table th'));
                   return [th.fontWeight, th.borderBottomStyle]; }"""
    )
    assert (weight, rule) == ("600", "solid")
    # The text stands out from the page behind it, in either theme.
    text, ground = page.evaluate(
        """() => [getComputedStyle(document.querySelector('.cw-table td')).color,
                  getComputedStyle(document.body).backgroundColor]"""
    )
    assert text != ground
    # A message opens as the debtor received it.
    assert page.locator("#messages a[href^='/admin/messaging/outbox/']").count() >= 3
    height = page.evaluate(
        "() => document.querySelector('[data-testid=casework-page]').scrollHeight"
    )
    page.set_viewport_size({"width": 1280, "height": height + 200})  # the whole page in one shot
    _screenshot(page, f"casework-debtor-{scheme}.png")
    assert_accessible(page, f"casework-debtor ({scheme})")
