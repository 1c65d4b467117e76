"""What the pages tell assistive technology, read from the HTML (the browser tests run axe-core
over the rendered pages): input purposes, the hint tied to the date of birth, the error summary
and "Error:" titles, and a distinct title for each outcome."""

from __future__ import annotations

import re

import pytest

from portal.tests.conftest import CARD_DECLINE, CARD_OK, nonce_of, open_link, verify

pytestmark = pytest.mark.django_db


def _title(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1)


def test_the_identity_check_names_input_purposes_and_ties_the_hint(client, account):
    open_link(client, account.debtor_id)
    page = client.get("/p/verify/").content.decode()
    for name, purpose in [("day", "bday-day"), ("month", "bday-month"), ("year", "bday-year")]:
        field = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
        assert f'autocomplete="{purpose}"' in field and 'aria-describedby="dob-hint"' in field
    assert 'id="dob-hint"' in page


def test_a_failed_identity_check_leads_from_the_summary_to_the_fields(client, account):
    open_link(client, account.debtor_id)
    blank = dict.fromkeys(["day", "month", "year", "postal_code"], "")
    empty = client.post("/p/verify/", blank).content.decode()
    assert _title(empty).startswith("Error: Confirm it is you")
    summary = empty.split("data-error-summary>", 1)[1].split("</div>", 1)[0]
    for field in ("day", "month", "year", "postal_code"):
        assert f'href="#id_{field}"' in summary
    day = re.search(r'<input[^>]*name="day"[^>]*>', empty).group(0)
    assert 'aria-describedby="dob-hint id_day_error"' in day and 'aria-invalid="true"' in day
    wrong = verify(client, postal="99999").content.decode()
    assert _title(wrong).startswith("Error: ")
    assert 'href="#id_day">The details you entered do not match' in wrong


def test_card_expiry_names_its_purpose_and_outcomes_have_their_own_titles(debtor_client, account):
    pay = f"/p/a/{account.pk}/pay/"
    page = debtor_client.get(pay).content.decode()
    assert 'autocomplete="cc-exp-month"' in page and 'autocomplete="cc-exp-year"' in page
    refused = debtor_client.post(pay, {"nonce": nonce_of(page), "purpose": "full"})
    assert _title(refused.content.decode()).startswith("Error: Make a payment")
    titles = {}
    for card in (CARD_DECLINE, CARD_OK):
        page = debtor_client.get(pay).content.decode()
        form = {"nonce": nonce_of(page), "purpose": "full", **card}
        done = debtor_client.post(pay, form, follow=True).content.decode()
        titles[card["card_number"]] = _title(done)
        assert 'http-equiv="refresh"' not in done
    assert titles[CARD_DECLINE["card_number"]].startswith("The payment did not go through")
    assert titles[CARD_OK["card_number"]].startswith("Thank you, your payment is received")


def test_the_new_link_page_has_its_own_title(client):
    client.get("/p/not-a-real-token/")
    assert _title(client.get("/p/link/").content.decode()).startswith("This link cannot be used")
    assert _title(client.post("/p/link/").content.decode()).startswith("New link requested")
