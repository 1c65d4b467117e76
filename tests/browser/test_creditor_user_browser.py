"""What a creditor user sees on the admin's home page, in Chromium, in the light and the dark
theme: they sign in with their password, land on the home page with the cockpit's headline
and their creditor's work queues, and the menus offer the collection pages, the cockpit and
their integration (API keys, webhooks) but no platform configuration; nothing names another
creditor; the page keeps the admin's Content-Security-Policy and passes axe. Screenshots go to
`SCREENSHOT_DIR` when it is set (CI keeps them as artifacts)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts.models import CreditorUser
from accounts.roles import CREDITOR_USERS_GROUP
from accounts.tests.factories import CreditorFactory, place, row
from portal import services as portal
from tests.browser import test_csp_browser as csp_browser
from tests.browser.axe import assert_accessible
from tests.browser.test_queues_browser import _screenshot

clock = csp_browser.clock
committed_baseline = csp_browser.committed_baseline

pytestmark = pytest.mark.browser


@pytest.fixture
def creditor_user_page(page, live_server, clock, committed_baseline):
    mine = CreditorFactory(name="Mine Energy", slug="mine", default_currency="USD")
    theirs = CreditorFactory(name="Zorblax Holdings", slug="zorblax", default_currency="USD")
    accounts = place(mine, row("MINE-1"), row("MINE-2"))
    place(theirs, row("ZORBLAX-1", debtor={"last_name": "Zorblax"}))
    portal.dispute_raise(account=accounts[0], reason="not_mine", details="Never signed it.")
    user = get_user_model().objects.create_user(
        "clara", "clara@mine.example", csp_browser.PASSWORD, is_staff=True
    )
    user.groups.add(Group.objects.get(name=CREDITOR_USERS_GROUP))
    CreditorUser.objects.create(user=user, creditor=mine)

    page.context.add_init_script(csp_browser.LISTEN)
    page.csp_problems = []
    page.goto(live_server.url + "/admin/login/")
    page.fill("input[name=username]", "clara")
    page.fill("input[name=password]", csp_browser.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/admin/")
    return page


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_creditor_user_sees_their_creditor_on_the_admin_home(
    creditor_user_page, live_server, scheme
):
    page = creditor_user_page
    page.emulate_media(color_scheme=scheme)
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.reload()
    page.wait_for_selector("[data-work-queues]")
    page.wait_for_load_state("networkidle")
    queues = page.locator("[data-work-queues]").inner_text()
    assert "Disputes" in queues and "Call-backs" in queues

    assert "zorblax" not in page.content().lower()
    _screenshot(page, f"creditor-user-home-{scheme}.png")
    csp_browser._collect(page)
    assert_accessible(page, f"creditor-user-home ({scheme})")

    for menu in ("Collections", "Work queues", "Operations", "Messages"):
        assert (
            page.get_by_role("button", name=menu).or_(page.get_by_role("link", name=menu)).count()
        ), menu
    page.get_by_role("button", name="Configuration").click()
    page.wait_for_selector("a:has-text('API keys')")
    offered = page.locator("a").all_inner_texts()
    assert {"API keys", "Webhook endpoints", "Webhook deliveries", "Creditors"} <= {
        text.strip() for text in offered
    }
    for platform in ("Staff users", "Staff groups", "Regions and rules", "Scheduled tasks"):
        assert platform not in {text.strip() for text in offered}, platform
    _screenshot(page, f"creditor-user-configuration-{scheme}.png")
    csp_browser._collect(page)
    assert not page.csp_problems, "\n".join(page.csp_problems)
