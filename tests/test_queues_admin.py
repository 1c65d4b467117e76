"""The work queues' pages in the Wagtail admin: what each creditor's staff see (only their
own items, in every queue, page, panel and bulk action), what a read-only user may not do,
and bad form input answered with form errors, never a 500."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Account, AccountStatus, Activity, ActivityKind
from accounts.webhooks.models import WebhookEvent
from collections_site.queues.common import operator_time, operator_zone_name
from collections_site.queues.panels import queue_rows
from messaging import services as messaging_services
from messaging.models import HandoffReview, Message
from portal import services as portal_services
from portal.models import (
    CallbackRequest,
    CallbackStatus,
    DisputeStatus,
    PauseRequest,
    PortalDispute,
)
from portal.selectors import debtor_today
from tests import queues_setup
from tests.queues_setup import callback_of, dispute_of, failed_message, placed, staff

_compliance_rules_fresh = queues_setup._compliance_rules_fresh
clock = queues_setup.clock
make_variant = queues_setup.make_variant
notices = queues_setup.notices
reviewer = queues_setup.reviewer

pytestmark = pytest.mark.django_db


@pytest.fixture
def two(clock, creditor, other_creditor, notices):
    """One dispute, call back and failed message for each of two creditors."""
    return {
        c.slug: {
            "dispute": dispute_of(c),
            "callback": callback_of(c),
            "failed": failed_message(c, notices["collection"]),
        }
        for c in (creditor, other_creditor)
    }


def _inspect(queue: str, pk: int) -> str:
    return reverse(f"queues_{queue}:inspect", args=[pk])


def test_each_queue_lists_only_the_creditors_own_items(two, creditor):
    client, _ = staff(creditor)
    mine, theirs = two["acme"], two["globex"]
    for queue, key, text in (
        ("disputes", "dispute", lambda o: o.account.external_ref),
        ("callbacks", "callback", lambda o: o.account.external_ref),
        ("handoffs", "failed", lambda o: o.account.external_ref),
    ):
        page = client.get(reverse(f"queues_{queue}:index"))
        assert page.status_code == 200, queue
        body = page.content.decode()
        assert text(mine[key]) in body, queue
        assert text(theirs[key]) not in body, queue
        assert client.get(_inspect(queue, mine[key].pk)).status_code == 200
        assert client.get(_inspect(queue, theirs[key].pk)).status_code == 404
        assert (
            client.post(_inspect(queue, theirs[key].pk), {"action": "assign_me"}).status_code == 404
        )


def test_the_home_panel_counts_only_the_creditors_items(two, creditor):
    client, user = staff(creditor)
    dispute = two["acme"]["dispute"]
    client.post(_inspect("disputes", dispute.pk), {"action": "assign_me"})
    page = client.get(reverse("wagtailadmin_home"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "data-work-queues" in body
    figures = {str(r.name): r for r in queue_rows(user)}
    assert (
        figures["Disputes"].total,
        figures["Disputes"].mine,
        figures["Disputes"].unassigned,
    ) == (1, 1, 0)
    assert (figures["Call-backs"].total, figures["Call-backs"].unassigned) == (1, 1)
    assert figures["Failed hand-offs"].total == 1
    _, agency_user = staff(agency=True)
    agency = {str(r.name): r for r in queue_rows(agency_user)}
    assert agency["Disputes"].total == 2 and agency["Disputes"].mine == 0


def test_a_read_only_user_sees_the_queue_but_cannot_act(two, creditor):
    client, _ = staff(creditor, act=False)
    dispute = two["acme"]["dispute"]
    page = client.get(_inspect("disputes", dispute.pk))
    assert page.status_code == 200 and b"data-resolve-form" not in page.content
    answer = client.post(
        _inspect("disputes", dispute.pk), {"action": "resolve", "outcome": "upheld"}
    )
    assert answer.status_code == 302
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.OPEN
    failed = two["acme"]["failed"]
    client.post(_inspect("handoffs", failed.pk), {"action": "resend"})
    assert not HandoffReview.objects.exists()
    url = reverse("wagtail_bulk_action", args=["portal", "portaldispute", "assign_to_me"])
    client.post(f"{url}?id={dispute.pk}")
    dispute.refresh_from_db()
    assert dispute.assigned_to_id is None


def test_resolving_from_the_page_with_bad_input_shows_form_errors(two, creditor):
    client, _ = staff(creditor)
    dispute = two["acme"]["dispute"]
    url = _inspect("disputes", dispute.pk)
    for data in ({"action": "resolve"}, {"action": "resolve", "outcome": "maybe"},
                 {"action": "resolve", "outcome": "upheld", "note": "x" * 2001}):  # fmt: skip
        page = client.post(url, data)
        assert page.status_code == 200 and page.context["resolve_form"].errors, data
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.OPEN
    done = client.post(url, {"action": "resolve", "outcome": "debt_stands", "note": "Contract."})
    assert done.status_code == 302
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.DEBT_STANDS and dispute.outcome_message_id
    assert _resolved_line(client.get(url)) == (
        f"{operator_time(dispute.resolved_at)} ({operator_zone_name()}) — Contract."
    )
    assert client.post(url, {"action": "bogus"}).status_code == 302  # a message, not a 500


def _resolved_line(page) -> str:
    return re.search(r"<dd data-resolved>(.*?)</dd>", page.content.decode(), re.S).group(1)


def test_a_dispute_resolved_without_a_note_shows_when_and_nothing_after(two, creditor):
    client, _ = staff(creditor)
    dispute = two["acme"]["dispute"]
    url = _inspect("disputes", dispute.pk)
    assert client.post(url, {"action": "resolve", "outcome": "upheld"}).status_code == 302
    dispute.refresh_from_db()
    # On the operator's clock with its zone, like the page's other times; no dangling dash.
    line = _resolved_line(client.get(url))
    assert line == f"{operator_time(dispute.resolved_at)} ({operator_zone_name()})"


def test_resolving_from_the_page_sends_the_creditor_the_dispute_with_its_outcome(two, creditor):
    client, _ = staff(creditor)
    dispute = two["acme"]["dispute"]
    done = client.post(
        _inspect("disputes", dispute.pk),
        {"action": "resolve", "outcome": "upheld", "note": "Identity theft confirmed."},
    )
    assert done.status_code == 302
    dispute.refresh_from_db()
    (event,) = WebhookEvent.objects.filter(type="dispute.resolved")
    assert event.creditor_id == creditor.pk
    assert event.data["object"]["id"] == dispute.pk
    assert event.data["object"]["status"] == "upheld"
    assert event.data["object"]["account"] == dispute.account.external_ref
    assert event.data["object"]["resolved_at"] is not None
    assert "Identity theft" not in json.dumps(event.data)  # the operators' note stays inside


def test_logging_a_call_with_bad_input_shows_form_errors(two, creditor):
    client, _ = staff(creditor)
    callback = two["acme"]["callback"]
    url = _inspect("callbacks", callback.pk)
    today = debtor_today(callback.debtor)
    bad = [
        {"action": "outcome"},
        {"action": "outcome", "outcome": "promise"},
        {"action": "outcome", "outcome": "promise", "promise_amount": "abc",
         "promise_date": today.isoformat()},
        {"action": "outcome", "outcome": "promise", "promise_amount": "99999",
         "promise_date": today.isoformat()},
        {"action": "outcome", "outcome": "promise", "promise_amount": "10",
         "promise_date": (today - timedelta(days=3)).isoformat()},
    ]  # fmt: skip
    for data in bad:
        page = client.post(url, data)
        assert page.status_code == 200 and page.context["outcome_form"].errors, data
    callback.refresh_from_db()
    assert callback.status == CallbackStatus.OPEN
    page = client.post(url, {"action": "outcome", "outcome": "promise", "promise_amount": "25",
                             "promise_date": (today + timedelta(days=5)).isoformat()})  # fmt: skip
    assert page.status_code == 302
    callback.refresh_from_db()
    assert callback.status == CallbackStatus.DONE and callback.promise_status == "pending"
    body = client.get(url).content.decode()
    assert "Call contact logged: conversation." in body and "Promise to pay 25.00 USD" in body


def test_the_call_back_page_answers_may_i_call_now_on_both_clocks(two, creditor, monkeypatch):
    client, _ = staff(creditor)
    page = client.get(_inspect("callbacks", two["acme"]["callback"].pk))
    body = page.content.decode()
    assert 'data-may-call="yes"' in body
    assert "America/New_York" in body  # the debtor's clock, named
    # The list asks for its whole page in one batch, never one check per row.
    monkeypatch.setattr(portal_services, "callback_call_check", None)
    index = client.get(reverse("queues_callbacks:index")).content.decode()
    assert "May I call now?" in index and "Yes" in index


def test_a_double_clicked_resend_sends_once(two, creditor):
    client, _ = staff(creditor)
    failed = two["acme"]["failed"]
    url = _inspect("handoffs", failed.pk)
    before = Message.objects.count()
    assert client.post(url, {"action": "resend"}).status_code == 302
    assert client.post(url, {"action": "resend"}).status_code == 302
    assert Message.objects.count() == before + 1
    listed = client.get(reverse("queues_handoffs:index")).context["object_list"]
    assert failed.pk not in [m.pk for m in listed]
    page = client.post(url, {"action": "close", "reason": ""})
    assert page.status_code == 302  # already answered: the page says so, nothing changes


def test_closing_a_hand_off_without_a_reason_is_a_form_error(two, creditor):
    client, _ = staff(creditor)
    failed = two["acme"]["failed"]
    page = client.post(_inspect("handoffs", failed.pk), {"action": "close", "reason": ""})
    assert page.status_code == 200 and page.context["close_form"].errors
    assert not HandoffReview.objects.exists()


def test_bulk_actions_reach_only_the_creditors_items(two, creditor):
    client, user = staff(creditor)
    mine, theirs = two["acme"], two["globex"]
    url = reverse("wagtail_bulk_action", args=["portal", "portaldispute", "assign_to_me"])
    ids = f"id={mine['dispute'].pk}&id={theirs['dispute'].pk}"
    assert client.get(f"{url}?{ids}").status_code in (200, 404)
    client.post(f"{url}?id={mine['dispute'].pk}", {})
    assert PortalDispute.objects.get(pk=mine["dispute"].pk).assigned_to_id == user.pk
    client.post(f"{url}?id=all", {})
    assert PortalDispute.objects.get(pk=theirs["dispute"].pk).assigned_to_id is None
    close = reverse("wagtail_bulk_action", args=["messaging", "message", "close_handoff"])
    client.post(f"{close}?id=all", {"reason": "Duplicates of a letter."})
    assert HandoffReview.objects.filter(message=mine["failed"]).exists()
    assert not HandoffReview.objects.filter(message=theirs["failed"]).exists()
    cb = reverse("wagtail_bulk_action", args=["portal", "callbackrequest", "assign_to_me"])
    client.post(f"{cb}?id=all", {})
    assert CallbackRequest.objects.get(pk=mine["callback"].pk).assigned_to_id == user.pk
    assert CallbackRequest.objects.get(pk=theirs["callback"].pk).assigned_to_id is None


def _queries_of(client, url: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url)
    assert page.status_code == 200
    return len(queries), page.content.decode()


# The index pages' queries, whatever the number of rows (session, user, permissions, the
# page's count and rows, the filters; the call-backs' compliance checks in one batch).
INDEX_QUERIES = {"disputes": 13, "callbacks": 14, "handoffs": 13}


def test_each_queue_names_its_items_by_account_and_debtor_in_a_constant_number_of_queries(
    clock, creditor, notices
):
    client, _ = staff(creditor)
    made = {"disputes": [], "callbacks": [], "handoffs": []}

    def add(n: int) -> None:
        for _ in range(n):
            made["disputes"].append(dispute_of(creditor))
            made["callbacks"].append(callback_of(creditor))
            made["handoffs"].append(failed_message(creditor, notices["collection"]))

    add(1)
    for queue in made:  # the first page of a session loads what later pages find cached
        client.get(reverse(f"queues_{queue}:index"))
    first = {q: _queries_of(client, reverse(f"queues_{q}:index")) for q in made}
    add(4)
    for queue, items in made.items():
        count, body = _queries_of(client, reverse(f"queues_{queue}:index"))
        assert (first[queue][0], count) == (INDEX_QUERIES[queue],) * 2, queue
        for item in items:
            debtor = item.account.debtor
            title = f"{item.account.external_ref} — {debtor.first_name} {debtor.last_name}"
            assert title in body, (queue, title)
        assert not re.search(r"Dispute \d+ on \d+|Call back \d+ for|Message \d+ \(", body)
    # The item's page and the bulk confirmation page name it the same way.
    dispute = made["disputes"][0]
    title = f"{dispute.account.external_ref} — {dispute.account.debtor.full_name}"
    assert title in client.get(_inspect("disputes", dispute.pk)).content.decode()
    url = reverse("wagtail_bulk_action", args=["portal", "portaldispute", "assign_to_me"])
    assert title in client.get(f"{url}?id={dispute.pk}").content.decode()


# --- Pausing the accounts behind the items --------------------------------------------------


def _may_change_accounts(user) -> None:
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="accounts", codename="change_account")
    )


def _pause_url(queue_model: tuple[str, str]) -> str:
    return reverse("wagtail_bulk_action", args=[*queue_model, "pause_accounts"])


CALLBACKS, HANDOFFS = ("portal", "callbackrequest"), ("messaging", "message")


def test_pausing_from_the_call_backs_pauses_their_accounts_with_timeline_and_webhook(
    two, creditor, clock
):
    client, user = staff(creditor)
    _may_change_accounts(user)
    mine, theirs = two["acme"]["callback"], two["globex"]["callback"]
    disputed = callback_of(creditor, account=two["acme"]["dispute"].account)
    debtor = placed(creditor).debtor
    portal_services.callback_request(  # a call back without an account: nothing to pause
        debtor=debtor, account=None, day=debtor_today(debtor) + timedelta(days=1), window="evening"
    )
    page = client.post(f"{_pause_url(CALLBACKS)}?id=all", {"days": "14", "reason": "illness"})
    assert page.status_code == 302
    account = Account.objects.get(pk=mine.account_id)
    until = debtor_today(account.debtor) + timedelta(days=14)
    assert (account.status, account.paused_until) == (AccountStatus.PAUSED, until)
    pause = PauseRequest.objects.get(account=account)
    assert (pause.reason, pause.days, pause.previous_status) == ("illness", 14, "active")
    entry = Activity.objects.get(account=account, kind=ActivityKind.PAUSE)
    assert entry.actor == f"admin:{user.pk}" and entry.data["pause_request_id"] == pause.pk
    assert "illness" not in str(entry.data) + entry.summary  # the reason stays off the timeline
    event = WebhookEvent.objects.get(type="pause.started", creditor=creditor)
    assert event.data["object"]["external_ref"] == account.external_ref
    assert event.data["paused_until"] == until.isoformat()
    # Another creditor's call back is never found; a disputed account is skipped, as it was.
    assert Account.objects.get(pk=theirs.account_id).status == AccountStatus.ACTIVE
    assert Account.objects.get(pk=disputed.account_id).status == AccountStatus.DISPUTED
    shown = [str(m).strip() for m in get_messages(page.wsgi_request)]
    assert shown == [
        "Pause: 1 account(s) paused. 2 not paused: no account, or an account that cannot be "
        "paused now (disputed, already paused, closed)."
    ]


def test_pausing_from_the_failed_hand_offs_pauses_the_messages_accounts(two, creditor):
    client, user = staff(creditor)
    _may_change_accounts(user)
    failed = two["acme"]["failed"]
    again = messaging_services.message_send(
        account=failed.account, variant=failed.variant, slot="day-2"
    )
    Message.objects.filter(pk=again.pk).update(status="failed", status_reason="bounced")
    ids = [failed.pk, again.pk, two["globex"]["failed"].pk]
    url = f"{_pause_url(HANDOFFS)}?" + "&".join(f"id={pk}" for pk in ids)
    confirm = client.get(url).content.decode()
    assert failed.account.external_ref in confirm
    assert two["globex"]["failed"].account.external_ref not in confirm
    page = client.post(url, {"days": "7", "reason": "job_loss"})
    assert page.status_code == 302
    assert [str(m).strip() for m in get_messages(page.wsgi_request)] == [
        "Pause: 1 account(s) paused."  # two failed messages, one account: paused once
    ]
    assert PauseRequest.objects.filter(account_id=failed.account_id).count() == 1
    assert Account.objects.get(pk=failed.account_id).status == AccountStatus.PAUSED
    assert Account.objects.get(pk=two["globex"]["failed"].account_id).status == "active"
    assert not HandoffReview.objects.exists()  # the failed message still waits for an answer
    assert (
        Activity.objects.get(account_id=failed.account_id, kind=ActivityKind.PAUSE).actor
        == f"admin:{user.pk}"
    )


@pytest.mark.parametrize(
    "data",
    [
        {"reason": "illness"},
        {"days": "0", "reason": "illness"},
        {"days": "abc", "reason": "illness"},
        {"days": "31", "reason": "illness"},  # the creditor allows 30 at most
        {"days": "10"},
        {"days": "10", "reason": "holiday"},
    ],
)
def test_pausing_with_bad_input_shows_form_errors_and_pauses_nothing(two, creditor, data):
    client, user = staff(creditor)
    _may_change_accounts(user)
    callback = two["acme"]["callback"]
    page = client.post(f"{_pause_url(CALLBACKS)}?id={callback.pk}", data)
    assert page.status_code == 200 and page.context["form"].errors, data
    assert Account.objects.get(pk=callback.account_id).status == AccountStatus.ACTIVE
    assert not PauseRequest.objects.exists()


def test_read_only_staff_and_staff_who_may_not_change_accounts_cannot_pause(two, creditor):
    callback, failed = two["acme"]["callback"], two["acme"]["failed"]
    read_only, reader = staff(creditor, act=False)
    _may_change_accounts(reader)
    no_accounts, _ = staff(creditor)  # may answer the queues, not change an account's status
    for client in (read_only, no_accounts):
        for url in (f"{_pause_url(CALLBACKS)}?id={callback.pk}",
                    f"{_pause_url(HANDOFFS)}?id={failed.pk}"):  # fmt: skip
            page = client.post(url, {"days": "10", "reason": "illness"})
            assert page.status_code in (200, 302)
            assert "You may not act on these" in client.get(url).content.decode()
    assert not Account.objects.filter(status=AccountStatus.PAUSED).exists()
    assert not PauseRequest.objects.exists()


def test_a_long_reason_in_a_queue_list_ends_with_an_ellipsis():
    from types import SimpleNamespace

    from collections_site.queues.callbacks import _may_call

    reason = (
        "call at 07:57 on a weekday is outside the allowed hours (08:00-21:00, local time). "
        "Rule: MA: telephone and text contact hours"
    )
    check = SimpleNamespace(allowed=False, reasons=[{"message": reason}])
    shown = _may_call(SimpleNamespace(status=CallbackStatus.OPEN, call_check=check))
    assert len(shown) == 120 and shown.endswith("…") and f"No: {reason}".startswith(shown[:-1])
    short = SimpleNamespace(allowed=False, reasons=[{"message": "needs consent."}])
    assert _may_call(SimpleNamespace(status=CallbackStatus.OPEN, call_check=short)) == (
        "No: needs consent."
    )
