"""The identity check's lockout: escalation per link, the switched-off link and its fresh link,
the debtor told of each lock, and the per-IP lock only where client addresses are known.

The clock is the one thing mocked (`clock`: `django.utils.timezone.now`). The parallel-request
test is test_lockout_concurrency.py (PostgreSQL); the proxy check is test_checks.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client

from accounts.links import portal_token_make, portal_token_read
from accounts.models import Activity
from messaging.models import Message, MessageVariant
from messaging.rendering import PLACEHOLDERS
from messaging.tests.conftest import (  # noqa: F401 - fixtures
    _compliance_rules_fresh,
    clock,
    make_variant,
    reviewer,
)
from portal.models import LinkRequest, VerificationLock
from portal.tests.conftest import verify

pytestmark = pytest.mark.django_db

WRONG_POSTAL = "99999"
LOCK_TEXT = {
    "email": {
        "email_subject": "Sign-in to your {{ creditor_name }} account was paused",
        "email_body": "Hello {{ first_name }},\n\nSomeone entered details that did not match "
        "ours several times when opening a link we sent you, so we paused that link.\n\nIf "
        "it was not you, write to us at {{ contact_email }}.",
    },
    "sms": {
        "sms_text": "{{ creditor_name }}: sign-in with your link was paused after wrong "
        "details. Not you? Write to {{ contact_email }}."
    },
}


def _open(client: Client, token: str) -> None:
    """Open (or open again) one link: the same jti every time."""
    response = client.get(f"/p/{token}/")
    assert response.status_code == 302 and response["Location"] == "/p/verify/"


def _wrong(client: Client, times: int) -> list[int]:
    return [verify(client, postal=WRONG_POSTAL).status_code for _ in range(times)]


def _events(debtor_id: int, event: str) -> list[dict]:
    rows = Activity.objects.filter(debtor_id=debtor_id, data__event=event).order_by("id")
    return [row.data for row in rows]


@pytest.fixture
def lock_variants(make_variant):  # noqa: F811
    made = [make_variant(channel, **LOCK_TEXT[channel]) for channel in ("email", "sms")]
    MessageVariant.objects.filter(pk__in=[v.pk for v in made]).update(cta="portal_locked")
    return made


@pytest.fixture
def link_variants(make_variant):  # noqa: F811
    made = [make_variant("email"), make_variant("sms")]
    MessageVariant.objects.filter(pk__in=[v.pk for v in made]).update(cta="portal_link")
    return made


# --- escalation -------------------------------------------------------------------------------


def test_each_lock_of_a_link_lasts_longer_then_the_link_is_switched_off(
    client,
    account,
    clock,  # noqa: F811
):
    assert django_settings.PORTAL_LOCKOUT_STEPS_MINUTES == [15, 60, 1440]  # the defaults
    token = portal_token_make(debtor_id=account.debtor_id)
    start = clock.now
    waited = timedelta()
    for step, minutes in enumerate([15, 60, 1440], start=1):
        _open(client, token)
        assert _wrong(client, 5) == [200, 200, 200, 200, 429]
        assert verify(client).status_code == 429  # even the right answers, while locked
        clock.set(start + waited + timedelta(minutes=minutes - 1))
        _open(client, token)
        assert verify(client).status_code == 429, f"step {step} ended early"
        waited += timedelta(minutes=minutes + 1)
        clock.set(start + waited)

    _open(client, token)
    assert _wrong(client, 5) == [200, 200, 200, 200, 410]
    clock.set(clock.now + timedelta(days=30))
    _open(client, token)
    page = client.get("/p/verify/")
    assert page.status_code == 410 and "This link no longer works" in page.content.decode()
    assert verify(client).status_code == 410  # switched off for good, right answers too
    assert client.get("/p/").status_code == 302

    jti = portal_token_read(token).jti
    lock = VerificationLock.objects.get(scope="link", key=jti)
    assert lock.step == 4 and lock.dead_at is not None
    failed = _events(account.debtor_id, "verify_failed")
    assert len(failed) == 20
    steps = [(e["step"], e["dead"]) for e in failed if e["locked"]]
    assert steps == [(1, False), (2, False), (3, False), (4, True)]
    assert ["locked_until" in e for e in failed if e["locked"]] == [True, True, True, False]
    refused = _events(account.debtor_id, "verify_locked")
    assert [e["step"] for e in refused] == [1, 1, 2, 2, 3, 3, 4]
    assert [e["dead"] for e in refused] == [False] * 6 + [True]


def test_the_pause_says_how_long_in_the_debtors_language(client, creditor, clock):  # noqa: F811
    from accounts.tests.factories import place, row

    (account,) = place(creditor, row(9, debtor={"language": "de"}))
    token = portal_token_make(debtor_id=account.debtor_id)
    _open(client, token)
    assert "15 Minuten" in verify_page_after(client, 5)
    clock.set(clock.now + timedelta(minutes=16))
    _open(client, token)
    assert "1 Stunde" in verify_page_after(client, 5)


def verify_page_after(client: Client, wrong: int) -> str:
    _wrong(client, wrong)
    page = client.get("/p/verify/")
    assert page.status_code == 429
    return page.content.decode()


def test_wrong_answers_spread_out_in_time_still_count_towards_the_lock(
    client,
    account,
    clock,  # noqa: F811
):
    clock.set(datetime.now(UTC))
    token = portal_token_make(debtor_id=account.debtor_id)
    _open(client, token)
    assert _wrong(client, 4) == [200] * 4
    clock.set(clock.now + timedelta(hours=6))  # no window to wait out between guesses
    _open(client, token)
    assert _wrong(client, 1) == [429]


def test_the_right_answers_clear_the_count_but_not_the_step(client, account, clock):  # noqa: F811
    token = portal_token_make(debtor_id=account.debtor_id)
    _open(client, token)
    _wrong(client, 5)
    clock.set(clock.now + timedelta(minutes=16))
    _open(client, token)
    _wrong(client, 4)
    assert verify(client)["Location"] == "/p/"
    lock = VerificationLock.objects.get(scope="link", key=portal_token_read(token).jti)
    assert (lock.failures, lock.step) == (0, 1)


def test_the_steps_are_a_setting(client, account, clock, settings):  # noqa: F811
    settings.PORTAL_LOCKOUT_STEPS_MINUTES = [2]
    token = portal_token_make(debtor_id=account.debtor_id)
    _open(client, token)
    assert _wrong(client, 5)[-1] == 429
    clock.set(clock.now + timedelta(minutes=3))
    _open(client, token)
    assert _wrong(client, 5)[-1] == 410


def test_a_new_link_of_the_same_debtor_is_not_switched_off(client, account, settings):
    settings.PORTAL_LOCKOUT_STEPS_MINUTES = [1]
    settings.PORTAL_LOCKOUT_ATTEMPTS = 1
    _open(client, portal_token_make(debtor_id=account.debtor_id))
    assert _wrong(client, 1) == [429]
    VerificationLock.objects.update(locked_until=None)
    assert _wrong(client, 1) == [410]
    fresh = Client()
    _open(fresh, portal_token_make(debtor_id=account.debtor_id))
    assert verify(fresh)["Location"] == "/p/"


# --- the switched-off link and its fresh link -------------------------------------------------


def test_a_switched_off_link_asks_for_a_fresh_one_that_works(
    client,
    account,
    clock,  # noqa: F811
    settings,
    link_variants,
    django_capture_on_commit_callbacks,
):
    settings.PORTAL_LOCKOUT_STEPS_MINUTES = [1]
    token = portal_token_make(debtor_id=account.debtor_id)
    _open(client, token)
    _wrong(client, 5)
    clock.set(clock.now + timedelta(minutes=2))
    _open(client, token)
    assert _wrong(client, 5)[-1] == 410
    page = client.get("/p/verify/").content.decode()
    assert 'action="/p/link/"' in page and "Send me a new link" in page

    with django_capture_on_commit_callbacks(execute=True):
        thanks = client.post("/p/link/")
    assert thanks.status_code == 200 and "Thank you" in thanks.content.decode()
    (request,) = LinkRequest.objects.all()
    assert (request.debtor_id, request.old_jti) == (account.debtor_id, portal_token_read(token).jti)
    assert request.status == "sent"
    (message,) = Message.objects.filter(slot=f"portal-link-{request.pk}")
    assert message.recipient == account.debtor.email
    fresh = re.search(r"/p/([^/\s]+)/", message.body).group(1)
    assert portal_token_read(fresh).jti != portal_token_read(token).jti

    browser = Client()
    _open(browser, fresh)
    assert verify(browser)["Location"] == "/p/"
    assert browser.get("/p/").status_code == 200


def test_a_link_that_is_not_switched_off_cannot_ask_for_a_fresh_one_from_its_session(
    client, account
):
    _open(client, portal_token_make(debtor_id=account.debtor_id))
    client.post("/p/link/")
    assert not LinkRequest.objects.exists()


# --- the debtor is told -----------------------------------------------------------------------


def test_the_debtor_is_told_once_per_lock_step_without_the_answers(
    client,
    account,
    clock,  # noqa: F811
    settings,
    lock_variants,
    django_capture_on_commit_callbacks,
):
    settings.PORTAL_LOCKOUT_STEPS_MINUTES = [1, 2]
    token = portal_token_make(debtor_id=account.debtor_id)
    jti = portal_token_read(token).jti
    with django_capture_on_commit_callbacks(execute=True):
        _open(client, token)
        _wrong(client, 5)
        _wrong(client, 10)  # refused while locked: no more messages
        assert verify(client).status_code == 429
    assert list(Message.objects.values_list("slot", flat=True)) == [f"portal-lock-{jti}-1"]

    for minutes in (2, 3):
        clock.set(clock.now + timedelta(minutes=minutes))
        with django_capture_on_commit_callbacks(execute=True):
            _open(client, token)
            _wrong(client, 8)
    slots = sorted(Message.objects.values_list("slot", flat=True))
    assert slots == [f"portal-lock-{jti}-{n}" for n in (1, 2, 3)]  # the last: switched off

    messages = list(Message.objects.all())
    assert {m.status for m in messages} == {"sent"}  # tasks run in-process in tests
    assert {m.recipient for m in messages} == {account.debtor.email}
    assert {m.variant_id for m in messages} == {lock_variants[0].pk}
    for message in messages:
        text = message.subject + message.body
        assert "Sign-in" in message.subject
        for secret in ("1980", "02101", WRONG_POSTAL):
            assert secret not in text
    # Nothing in the library can print the identity answers.
    assert not {"date_of_birth", "postal_code", "dob"} & set(PLACEHOLDERS)


def test_outside_the_regions_hours_the_notice_waits_for_them(
    client,
    account,
    clock,  # noqa: F811
    lock_variants,
    django_capture_on_commit_callbacks,
):
    clock.set(clock.now.replace(hour=4))  # midnight in Boston: no contact allowed
    with django_capture_on_commit_callbacks(execute=True):
        _open(client, portal_token_make(debtor_id=account.debtor_id))
        _wrong(client, 5)
    (message,) = Message.objects.all()
    assert message.status == "planned" and message.due_at > clock.now


def test_without_a_lock_notice_in_the_library_the_lock_still_holds(
    client, account, django_capture_on_commit_callbacks, caplog
):
    with django_capture_on_commit_callbacks(execute=True):
        _open(client, portal_token_make(debtor_id=account.debtor_id))
        assert _wrong(client, 5)[-1] == 429
    assert not Message.objects.exists()
    assert f"debtor {account.debtor_id}: not told" in caplog.text
    assert "Lovelace" not in caplog.text and "ada1@example.com" not in caplog.text


# --- the per-IP lock and the proxy ------------------------------------------------------------

BEHIND_PROXY = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.7"}


def test_a_shared_proxy_address_does_not_lock_another_debtors_link(
    account, other_account, settings
):
    settings.PORTAL_CLIENT_IP_HEADER = ""
    for _ in range(3):  # three links, each locked, all through one proxy address
        attacker = Client(**BEHIND_PROXY)
        _open(attacker, portal_token_make(debtor_id=account.debtor_id))
        assert _wrong(attacker, 5)[-1] == 429
    debtor = Client(**BEHIND_PROXY)
    _open(debtor, portal_token_make(debtor_id=other_account.debtor_id))
    assert debtor.get("/p/verify/").status_code == 200
    assert verify(debtor, day="6", month="5", year="1990")["Location"] == "/p/"
    assert not VerificationLock.objects.filter(scope="ip").exists()


def test_with_the_client_ip_header_each_client_address_is_counted(account, other_account, settings):
    settings.PORTAL_CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    attacker = Client(**BEHIND_PROXY)
    _open(attacker, portal_token_make(debtor_id=account.debtor_id))
    _wrong(attacker, 4)
    _open(attacker, portal_token_make(debtor_id=account.debtor_id))  # another link, same client
    assert _wrong(attacker, 1) == [429]
    debtor = Client(**{**BEHIND_PROXY, "HTTP_X_FORWARDED_FOR": "198.51.100.4"})
    _open(debtor, portal_token_make(debtor_id=other_account.debtor_id))
    assert verify(debtor, day="6", month="5", year="1990")["Location"] == "/p/"
