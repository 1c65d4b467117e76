"""Links, sessions, identity verification, lockout, headers and languages."""

from __future__ import annotations

import html
import re
import time
from datetime import date, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from babel.dates import format_date
from babel.numbers import format_currency
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from accounts.links import letter_code_make, portal_token_make, portal_token_read
from accounts.models import Activity, ActivityKind
from accounts.tests.factories import place, row
from portal.models import LinkRequest
from portal.tests.conftest import DOB, open_link, sign_in, verify

pytestmark = pytest.mark.django_db


def _without_csrf(html: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", html)


def test_link_exchange_starts_session_and_leaves_a_token_free_url(client, account):
    token = portal_token_make(debtor_id=account.debtor_id)
    response = client.get(f"/p/{token}/")
    assert response.status_code == 302 and response["Location"] == "/p/verify/"
    assert response["Referrer-Policy"] == "no-referrer"
    page = client.get("/p/verify/")
    assert page.status_code == 200 and token not in page.content.decode()
    state = client.session["portal"]
    assert state["d"] == account.debtor_id and state["j"] == portal_token_read(token).jti
    assert state["v"] is False
    assert Activity.objects.filter(kind=ActivityKind.PORTAL, data__event="link_opened").exists()


def test_no_debt_detail_before_identity_is_verified(client, account):
    open_link(client, account.debtor_id)
    response = client.get("/p/")
    assert response.status_code == 302 and response["Location"] == "/p/verify/"
    pay = client.get(f"/p/a/{account.pk}/pay/")
    assert pay.status_code == 302
    # The balance as a word: three digits as a bare substring may be in the form's CSRF token.
    assert not re.search(rb"\b120\b", client.get("/p/verify/").content)


def test_without_a_session_pages_ask_for_the_link(client, account):
    response = client.get(f"/p/a/{account.pk}/pay/")
    assert response.status_code == 403
    assert b"link in your message" in response.content


def test_altered_and_expired_links_show_the_same_page_and_answer(client, account):
    good = portal_token_make(debtor_id=account.debtor_id)
    altered = good[:-3] + ("AAA" if good[-3:] != "AAA" else "BBB")
    pages = []
    for token, expired in ((altered, False), (good, True)):
        c = Client()
        expiry = timedelta(seconds=-1 if expired else 3600)
        with mock.patch("accounts.links.link_max_age", return_value=expiry):
            response = c.get(f"/p/{token}/")
        assert response["Location"] == "/p/link/"
        landing = c.get("/p/link/")
        sent = c.post("/p/link/")
        pages.append((landing.status_code, landing.content, sent.status_code, sent.content))
    assert pages[0][0] == pages[1][0] == 200 and pages[0][2] == pages[1][2] == 200
    assert _without_csrf(pages[0][1]) == _without_csrf(pages[1][1])
    assert _without_csrf(pages[0][3]) == _without_csrf(pages[1][3])  # reveals nothing
    # Only the authentic (expired) link names a debtor, so only it records a request.
    assert list(LinkRequest.objects.values_list("debtor_id", flat=True)) == [account.debtor_id]
    assert Activity.objects.filter(data__event="link_requested").count() == 1


def test_a_letter_code_typed_from_paper_opens_the_portal_and_expires_to_a_fresh_link(
    client, account, settings, monkeypatch
):
    code = letter_code_make(debtor_id=account.debtor_id)
    typed = code.lower().replace("-", "")  # as someone types it from the letter
    response = client.get(f"/p/{typed}/")
    assert response.status_code == 302 and response["Location"] == "/p/verify/"
    assert verify(client).status_code == 302  # the identity check, as for any link
    assert client.session["portal"]["j"] == portal_token_read(code).jti
    # Past its days it leads to the page that sends a fresh link to the details on file.
    later = timezone.now().date() + timedelta(days=settings.PORTAL_LETTER_LINK_MAX_AGE_DAYS + 1)
    monkeypatch.setattr("accounts.links._utc_today", lambda: later)
    c = Client()
    assert c.get(f"/p/{code}/")["Location"] == "/p/link/"
    c.post("/p/link/")
    assert list(LinkRequest.objects.values_list("debtor_id", flat=True)) == [account.debtor_id]


def test_a_visitor_without_a_session_can_type_the_code_from_a_letter(client, account):
    page = client.get("/p/")
    assert page.status_code == 403 and 'action="/p/code/"' in page.content.decode()
    code = letter_code_make(debtor_id=account.debtor_id)
    response = client.post("/p/code/", {"code": f"  {code.lower()} "})
    assert response.status_code == 302 and response["Location"] == "/p/verify/"
    assert client.session["portal"]["j"] == portal_token_read(code).jti
    # The whole address typed in the field: its code is read.
    long_site = "https://collections.example-creditor-services.co.uk/p/"
    typed = Client().post("/p/code/", {"code": f"{long_site}{code}/"})
    assert typed["Location"] == "/p/verify/"
    # Typed on a phone, whose keyboard the field asks for capitals.
    shouted = Client().post("/p/code/", {"code": f"COLLECT.EXAMPLE.COM/P/{code.upper()}"})
    assert shouted["Location"] == "/p/verify/"
    # Not a code's shape: the form again, with its error (the title says "Error:").
    refused = Client().post("/p/code/", {"code": "my account number is 42"})
    assert refused.status_code == 200
    text = html.unescape(refused.content.decode())
    assert "<title>Error:" in text and "as it is printed on your letter" in text
    # A code's shape but not ours: the same page as any link that cannot be used.
    wrong = Client().post("/p/code/", {"code": "K3M9-TTQ4-ZZ7A-B2CD"})
    assert wrong.status_code == 302 and wrong["Location"] == "/p/link/"
    assert Client().get("/p/code/")["Location"] == "/p/"  # e.g. back from the language switch


def test_signing_out_offers_the_letter_code_form_too(debtor_client):
    page = debtor_client.post("/p/signout/")
    assert page.status_code == 200 and 'action="/p/code/"' in page.content.decode()


def test_fresh_link_requests_are_recorded_at_most_once_an_hour(client, account):
    token = portal_token_make(debtor_id=account.debtor_id)
    for _ in range(3):
        c = Client()
        with mock.patch("accounts.links.link_max_age", return_value=timedelta(seconds=-1)):
            c.get(f"/p/{token}/")
        c.post("/p/link/")
    assert LinkRequest.objects.count() == 1


def test_correct_answers_with_normalised_postal_code_verify(client, creditor):
    (account,) = place(creditor, row(5, debtor={"postal_code": "SW1A 1AA", "region": "GB",
                                                 "phone": "+447911123456"}))  # fmt: skip
    open_link(client, account.debtor_id)
    response = verify(client, postal="sw1a-1aa")
    assert response["Location"] == "/p/"
    assert client.get("/p/").status_code == 200


def test_us_zip_plus_four_matches_the_five_digit_zip(client, account):
    open_link(client, account.debtor_id)
    assert verify(client, postal="02101-1234")["Location"] == "/p/"


def test_wrong_date_and_wrong_postal_code_get_the_same_message(client, account):
    open_link(client, account.debtor_id)
    wrong_dob = verify(client, day="4").content.decode()
    wrong_postal = verify(client, postal="99999").content.decode()
    message = "do not match our records"
    assert message in wrong_dob and message in wrong_postal
    for text in (wrong_dob, wrong_postal):
        assert "date of birth is wrong" not in text.lower()
        assert "postal code is wrong" not in text.lower()
    assert "has-error" not in wrong_dob and "has-error" not in wrong_postal


def test_five_wrong_answers_lock_the_link_for_15_minutes(client, account):
    open_link(client, account.debtor_id)
    for _ in range(4):
        assert verify(client, postal="99999").status_code == 200
    assert verify(client, postal="99999").status_code == 429
    # Even the right answers are refused while locked.
    assert verify(client).status_code == 429
    assert client.get("/p/").status_code == 302
    later = timezone.now() + timedelta(minutes=16)
    with mock.patch("django.utils.timezone.now", return_value=later):
        response = verify(client)
    assert response.status_code == 302 and response["Location"] == "/p/"


def test_lockout_holds_for_the_ip_even_with_a_new_link(client, account, other_account, settings):
    settings.PORTAL_CLIENT_IP_HEADER = "REMOTE_ADDR"  # client addresses are known
    open_link(client, account.debtor_id)
    for _ in range(5):
        verify(client, postal="99999")
    other = Client()
    open_link(other, other_account.debtor_id)
    assert other.get("/p/verify/").status_code == 429
    elsewhere = Client(REMOTE_ADDR="10.9.8.7")
    open_link(elsewhere, other_account.debtor_id)
    assert verify(elsewhere, year="1990", month="5", day="6")["Location"] == "/p/"


def test_every_attempt_is_on_the_timeline_without_personal_data(client, account):
    open_link(client, account.debtor_id)
    verify(client, postal="99999")
    verify(client)
    entries = Activity.objects.filter(kind=ActivityKind.PORTAL).order_by("id")
    events = [e.data["event"] for e in entries]
    assert events == ["link_opened", "verify_failed", "verified"]
    blob = str([e.data for e in entries]) + str([e.summary for e in entries])
    for secret in ("1980", "02101", "99999", "127.0.0.1"):
        assert secret not in blob


def test_portal_session_ends_after_idle_time(debtor_client, settings):
    assert debtor_client.get("/p/").status_code == 200
    later = time.time() + settings.PORTAL_SESSION_IDLE_SECONDS + 5
    with mock.patch("portal.access.time.time", return_value=later):
        response = debtor_client.get("/p/")
    assert response.status_code == 403
    assert "portal" not in debtor_client.session


def test_stay_signed_in_restarts_the_idle_clock(debtor_client, settings):
    """The idle warning's "Stay signed in": a plain form goes back to the page, portal.js's
    background post gets a 204; either way the session lives a whole timeout from now."""
    idle = settings.PORTAL_SESSION_IDLE_SECONDS
    start = time.time()
    with mock.patch("portal.access.time.time", return_value=start + idle - 60):
        plain = debtor_client.post("/p/session/", {"next": "/p/history/"})
        background = debtor_client.post("/p/session/", {"js": "1"})
        elsewhere = debtor_client.post("/p/session/", {"next": "https://example.com/p/"})
    assert (plain.status_code, plain["Location"]) == (302, "/p/history/")
    assert background.status_code == 204
    assert elsewhere["Location"] == "/p/"
    with mock.patch("portal.access.time.time", return_value=start + 2 * idle - 90):
        assert debtor_client.get("/p/").status_code == 200  # without it, ended at `idle`
    with mock.patch("portal.access.time.time", return_value=start + 4 * idle):
        assert debtor_client.post("/p/session/", {"js": "1"}).status_code == 403  # too late


def test_pages_say_how_long_the_timeout_is_and_when_the_warning_opens(debtor_client, settings):
    settings.PORTAL_SESSION_IDLE_SECONDS = 20 * 60
    page = debtor_client.get("/p/").content.decode()
    assert "we sign you out after 20 minutes without activity" in page
    assert 'data-full="1200" data-warn="120"' in page
    assert re.search(r'data-left="(119[0-9]|1200)"', page)


def test_session_expiry_is_short_and_cookie_is_http_only(debtor_client, settings):
    assert debtor_client.session.get_expiry_age() <= settings.PORTAL_SESSION_IDLE_SECONDS
    cookie = debtor_client.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert settings.SESSION_COOKIE_SECURE is True


def test_portal_pages_send_a_content_security_policy_and_no_store(debtor_client):
    response = debtor_client.get("/p/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response["Cache-Control"] == "no-store"
    # No inline script or style: the one script is the portal's own file.
    scripts = re.findall(rb"<script[^>]*>", response.content)
    assert scripts == [b'<script src="/static/portal/portal.js" defer>']
    assert b"style=" not in response.content


def test_forms_refuse_posts_without_the_csrf_token(account):
    strict = Client(enforce_csrf_checks=True)
    open_link(strict, account.debtor_id)
    assert strict.post("/p/verify/", {**DOB, "postal_code": "02101"}).status_code == 403
    page = strict.get("/p/verify/").content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    ok = strict.post("/p/verify/", {**DOB, "postal_code": "02101", "csrfmiddlewaretoken": token})
    assert ok.status_code == 302


def test_the_token_is_not_logged_on_exchange(client, account, caplog):
    token = portal_token_make(debtor_id=account.debtor_id)
    with caplog.at_level("DEBUG"):
        client.get(f"/p/{token}/")
        verify(client)
        client.get("/p/")
    assert token not in caplog.text and "Lovelace" not in caplog.text


def test_page_language_comes_from_the_debtors_record(client, creditor):
    (account,) = place(creditor, row(7, debtor={"language": "fr"}))
    sign_in(client, account.debtor_id)
    page = client.get("/p/")
    assert page["Content-Language"] == "fr"
    assert '<html lang="fr">' in page.content.decode()
    assert "Solde" in page.content.decode()


def test_language_switcher_changes_the_page_and_the_record(debtor_client, account):
    response = debtor_client.post("/p/language/", {"language": "de", "next": "/p/history/"})
    assert response["Location"] == "/p/history/"
    page = debtor_client.get("/p/").content.decode()
    assert '<html lang="de">' in page and "Kontostand" in page
    account.debtor.refresh_from_db()
    assert account.debtor.language == "de"
    assert Activity.objects.filter(
        kind=ActivityKind.PREFERENCE_CHANGE, data__language="de"
    ).exists()


def test_switcher_refuses_to_redirect_off_the_portal(debtor_client):
    response = debtor_client.post("/p/language/", {"language": "fr", "next": "https://evil.test/"})
    assert response["Location"] == "/p/"


def test_money_and_dates_are_formatted_for_the_debtors_locale(client, creditor):
    (account,) = place(
        creditor,
        row(8, currency="EUR", original_amount="1234.50", due_date="2026-03-03",
            debtor={"language": "de", "region": "DE", "phone": "+4915112345678",
                    "postal_code": "10115"}),
    )  # fmt: skip
    open_link(client, account.debtor_id)
    verify(client, postal="10115")
    page = html.unescape(client.get("/p/").content.decode())
    # What babel writes for German in Germany (e.g. "1.234,50 €", "3. März 2026"), asked of the
    # installed babel rather than copied from one CLDR release.
    assert format_currency(Decimal("1234.50"), "EUR", locale="de_DE") in page
    assert format_date(date(2026, 3, 3), "long", locale="de_DE") in page
    assert format_currency(Decimal("1234.50"), "EUR", locale="en") not in page


def test_portal_link_command_prints_a_working_link(account, capsys, settings):
    settings.SITE_URL = "https://collect.example.com"
    call_command("portal_link", account.external_ref, creditor=account.creditor.slug)
    url = capsys.readouterr().out.strip()
    assert url.startswith("https://collect.example.com/p/")
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert portal_token_read(token).debtor_id == account.debtor_id


def test_portal_link_command_tells_a_demo_what_the_verification_page_asks(
    account, capsys, settings
):
    settings.DEBUG = True
    debtor = account.debtor
    call_command("portal_link", account.external_ref, creditor=account.creditor.slug)
    url, hint = capsys.readouterr().out.strip().splitlines()
    assert url.startswith(settings.SITE_URL + "/p/")
    assert hint.startswith("Demo only")
    assert f"{debtor.date_of_birth:%Y-%m-%d}" in hint
    assert debtor.postal_code and debtor.postal_code in hint


def test_portal_link_command_never_prints_identity_answers_with_debug_off(account, capsys):
    call_command("portal_link", account.external_ref, creditor=account.creditor.slug)
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    assert str(account.debtor.date_of_birth.year) not in out.split("/p/")[0]
    assert "Demo only" not in out and account.debtor.postal_code not in out


@pytest.mark.parametrize(("ref", "slug"), [("NOPE", "acme"), ("ACC-1", "nope")])
def test_portal_link_command_fails_for_unknown_ref_or_creditor(account, ref, slug):
    with pytest.raises(CommandError):
        call_command("portal_link", ref, creditor=slug)
