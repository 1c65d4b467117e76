"""The portal in a real browser: the debtor's main journeys, end to end, without JavaScript
of our own (the pages ship none)."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from accounts.links import portal_token_make
from accounts.models import Payment, PaymentPlan
from accounts.tests.factories import CreditorFactory, place, row

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def account():
    creditor = CreditorFactory(name="Acme Energy", slug="acme", default_currency="USD")
    (placed,) = place(creditor, row(1))
    return placed


def open_and_verify(page, live_server, debtor_id: int, postal: str = "02101") -> None:
    page.goto(f"{live_server.url}/p/{portal_token_make(debtor_id=debtor_id)}/")
    assert page.url.endswith("/p/verify/")  # the token is gone from the address bar
    page.get_by_label("Day").fill("3")
    page.get_by_label("Month").fill("2")
    page.get_by_label("Year").fill("1980")
    page.get_by_label("Postal code").fill(postal)
    page.get_by_role("button", name="Continue").click()


def test_link_verify_plan_and_first_payment(page, live_server, account):
    open_and_verify(page, live_server, account.debtor_id)
    assert page.get_by_role("heading", name="Account ACC-1").is_visible()
    assert page.get_by_text("$120.50").first.is_visible()
    page.get_by_role("link", name="Set up a payment plan").click()
    page.get_by_label("Monthly").check()
    page.get_by_label("Number of instalments").fill("3")
    page.get_by_label("First payment date").fill(timezone.localdate().isoformat())
    page.get_by_role("button", name="Show the schedule").click()
    assert page.get_by_role("table").get_by_text("$40.18").is_visible()
    page.get_by_role("button", name="Accept this plan").click()
    assert "Please pay the first instalment now" in page.content()
    assert page.get_by_label(re.compile("My next instalment")).is_checked()
    page.get_by_label("Card number").fill("4000 0025 0000 3155")
    page.get_by_label("Expiry month (MM)").fill("12")
    page.get_by_label("Expiry year (YYYY)").fill("2099")
    page.get_by_label("Security code (CVC)").fill("123")
    page.get_by_role("button", name="Pay now").click()
    page.get_by_role("button", name="Confirm payment").click()
    assert page.get_by_role("heading", name="Thank you, your payment is received").is_visible()
    page.get_by_role("link", name="View and print your receipt").click()
    assert page.get_by_role("heading", name="Payment receipt").is_visible()
    assert Payment.objects.get().amount == PaymentPlan.objects.get().installments.first().amount


def test_five_wrong_answers_lock_the_link(page, live_server, account):
    for attempt in range(5):
        if attempt == 0:
            open_and_verify(page, live_server, account.debtor_id, postal="99999")
        else:
            page.get_by_label("Day").fill("3")
            page.get_by_label("Month").fill("2")
            page.get_by_label("Year").fill("1980")
            page.get_by_label("Postal code").fill("99999")
            page.get_by_role("button", name="Continue").click()
        if attempt < 4:
            assert page.get_by_text("do not match our records").is_visible()
    assert page.get_by_role("heading", name="Too many attempts").is_visible()
    page.goto(f"{live_server.url}/p/")
    assert "Account ACC-1" not in page.content()


def test_dispute_stops_collection(page, live_server, account, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    document = tmp_path / "letter.pdf"
    document.write_bytes(b"%PDF-1.4\n%%EOF\n")
    open_and_verify(page, live_server, account.debtor_id)
    page.get_by_role("link", name="I dispute this debt").click()
    page.get_by_label("I have already paid").check()
    page.get_by_label("Tell us more (optional)").fill("I paid by bank transfer.")
    page.get_by_label(re.compile("Supporting document")).set_input_files(str(document))
    page.get_by_role("button", name="Send my dispute").click()
    assert page.get_by_text("Your dispute is recorded").is_visible()
    account.refresh_from_db()
    assert account.status == "disputed"


def test_opting_out_of_sms(page, live_server, account):
    open_and_verify(page, live_server, account.debtor_id)
    page.get_by_role("link", name="Contact preferences").click()
    page.get_by_role("group", name="Do not contact me by").get_by_label("SMS").check()
    page.get_by_role("button", name="Save preferences").click()
    assert page.get_by_text("Your contact preferences are saved.").is_visible()
    account.debtor.refresh_from_db()
    assert "opted_out_sms" in account.debtor.flags


def test_french_and_german_pages(page, live_server, account):
    account.debtor.language = "fr"
    account.debtor.save(update_fields=["language"])
    page.goto(f"{live_server.url}/p/{portal_token_make(debtor_id=account.debtor_id)}/")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.get_by_role("heading", name="Confirmez votre identité").is_visible()
    page.get_by_label("Jour").fill("3")
    page.get_by_label("Mois").fill("2")
    page.get_by_label("Année").fill("1980")
    page.get_by_label("Code postal").fill("02101")
    page.get_by_role("button", name="Continuer").click()
    assert page.get_by_text("Solde").first.is_visible()
    page.get_by_label("Langue").select_option("de")
    page.get_by_role("button", name="Changer").click()
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.get_by_text("Kontostand").first.is_visible()
    assert page.get_by_text("120,50").first.is_visible()


def test_overview_is_usable_at_320_pixels(page, live_server, account):
    page.set_viewport_size({"width": 320, "height": 640})
    open_and_verify(page, live_server, account.debtor_id)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
