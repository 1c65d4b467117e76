"""The idle warning in Chromium (`portal/static/portal/portal.js`), with the page's clock run
forward: it opens two minutes before the session would end, "Stay signed in" restarts the
session on the server without leaving the page, and once the time is up the page says the
session has ended. Without JavaScript the pages say how long the timeout is."""

from __future__ import annotations

import time

import pytest
from django.contrib.sessions.backends.db import SessionStore

from accounts.links import portal_token_make
from accounts.tests.factories import CreditorFactory, place, row

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def account():
    creditor = CreditorFactory(name="Acme Energy", slug="acme", default_currency="USD")
    (placed,) = place(creditor, row(1))
    return placed


def _sign_in(page, live_server, account) -> None:
    page.goto(f"{live_server.url}/p/{portal_token_make(debtor_id=account.debtor_id)}/")
    page.fill("input[name=day]", "3")
    page.fill("input[name=month]", "2")
    page.fill("input[name=year]", "1980")
    page.fill("input[name=postal_code]", "02101")
    with page.expect_navigation():
        page.click("main form button[type=submit]")


def _session(page, settings) -> SessionStore:
    cookie = next(c for c in page.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)
    return SessionStore(session_key=cookie["value"])


def _set_seen(page, settings, seen: int) -> None:
    store = _session(page, settings)
    store["portal"] = {**store["portal"], "seen": seen}
    store.save()


def test_the_warning_opens_and_stay_signed_in_keeps_the_session(
    page, live_server, account, settings
):
    _sign_in(page, live_server, account)
    page.clock.install()
    page.goto(f"{live_server.url}/p/a/{account.pk}/dispute/")
    page.fill("textarea[name=details]", "Typed before the warning")
    dialog = page.locator("dialog#idle-warning")
    page.clock.run_for("27:30")
    assert not dialog.evaluate("d => d.open")
    page.clock.run_for("01:00")  # 28:30: two minutes are left
    page.wait_for_selector("dialog#idle-warning[open]")
    assert page.evaluate("document.activeElement.textContent") == "Stay signed in"
    before = int(time.time()) - 600
    _set_seen(page, settings, before)  # as if the debtor had been idle on the server too
    page.keyboard.press("Enter")
    page.wait_for_selector("dialog#idle-warning:not([open])", state="attached")
    assert _session(page, settings)["portal"]["seen"] > before  # the clock restarted
    assert page.input_value("textarea[name=details]") == "Typed before the warning"
    page.clock.run_for("27:00")  # counted again from the restart
    assert not dialog.evaluate("d => d.open")
    page.clock.run_for("01:31")
    page.wait_for_selector("dialog#idle-warning[open]")


def test_when_the_time_is_up_the_page_says_the_session_has_ended(
    page, live_server, account, settings
):
    _sign_in(page, live_server, account)
    page.clock.install()
    page.goto(f"{live_server.url}/p/history/")
    _set_seen(page, settings, int(time.time()) - settings.PORTAL_SESSION_IDLE_SECONDS - 5)
    with page.expect_navigation():
        page.clock.run_for("30:01")
    assert page.get_by_role("heading", name="Please open the link in your message").is_visible()


def test_without_javascript_the_timeout_is_stated_and_no_warning_shows(
    browser, live_server, account, settings
):
    settings.SESSION_COOKIE_SECURE = False
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    _sign_in(page, live_server, account)
    footer = page.locator("footer").inner_text()
    assert "we sign you out after 30 minutes without activity" in footer
    assert not page.locator("dialog#idle-warning").is_visible()
    context.close()
