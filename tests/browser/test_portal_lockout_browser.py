"""The lockout's pages in a real browser, in each language, on a phone-sized screen: the
locked page says how long, the switched-off link's page asks for a new link with a plain form.

Set PORTAL_SCREENSHOTS=<folder> to keep a screenshot of each page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from accounts.links import portal_token_make
from accounts.tests.factories import CreditorFactory, place, row
from portal.models import LinkRequest, VerificationLock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = {
    "en": ("Too many attempts", "15 minutes", "This link no longer works", "Send me a new link"),
    "fr": ("Trop de tentatives", "15 minutes", "Ce lien ne fonctionne plus",
           "Envoyez-moi un nouveau lien"),
    "de": ("Zu viele Versuche", "15 Minuten", "Dieser Link funktioniert nicht mehr",
           "Neuen Link senden"),
}  # fmt: skip


def _wrong_answers(page, times: int) -> None:
    for _ in range(times):
        page.fill("input[name=day]", "3")
        page.fill("input[name=month]", "2")
        page.fill("input[name=year]", "1980")
        page.fill("input[name=postal_code]", "99999")
        page.click("main form button[type=submit]")


def _looked_at(page, name: str) -> None:
    """No sideways scrolling at 390 px; a screenshot when asked for one."""
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    folder = os.environ.get("PORTAL_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("language", ["en", "fr", "de"])
def test_locked_and_switched_off_pages_on_a_phone(page, live_server, settings, language):
    settings.PORTAL_LOCKOUT_STEPS_MINUTES = [15]  # one lock, then the link is switched off
    creditor = CreditorFactory(name="Acme Energy", slug="acme", default_currency="USD")
    (account,) = place(creditor, row(1, debtor={"language": language}))
    locked_title, wait, dead_title, button = PAGES[language]
    page.set_viewport_size({"width": 390, "height": 844})

    page.goto(f"{live_server.url}/p/{portal_token_make(debtor_id=account.debtor_id)}/")
    _wrong_answers(page, 5)
    assert page.get_by_role("heading", name=locked_title).is_visible()
    assert wait in page.locator("main").inner_text()
    _looked_at(page, f"locked-{language}")

    VerificationLock.objects.update(locked_until=None)  # the 15 minutes have passed
    page.goto(f"{live_server.url}/p/verify/")
    _wrong_answers(page, 5)
    assert page.get_by_role("heading", name=dead_title).is_visible()
    _looked_at(page, f"dead-{language}")

    page.get_by_role("button", name=button).click()
    assert page.url.endswith("/p/link/")
    assert LinkRequest.objects.filter(debtor_id=account.debtor_id).count() == 1
    _looked_at(page, f"dead-sent-{language}")
