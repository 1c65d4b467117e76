"""The debtor's page (collections_site/casework/debtors.py): everything about one debtor in
one place, in the viewer's time zone with the debtor's clock beside it, in a number of
queries that does not grow with the debtor's history."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from wagtail.users.models import UserProfile

from accounts.models import Debtor
from accounts.tests.factories import staff_client
from messaging.models import Message
from recommender.models import Decision
from tests import privacy_life

pytestmark = pytest.mark.django_db

# The admin itself (session, user, second factor, permissions, profile, locale, menu ...),
# then the page: the debtor, the access log's insert, one query per table (accounts, plans,
# instalments, payments, timeline, messages, decisions, compliance, five portal tables).
QUERIES = 26


def _page(client, debtor: Debtor) -> str:
    response = client.get(reverse("casework_debtors:inspect", args=[debtor.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _section(page: str, anchor: str) -> str:
    found = re.search(rf'data-testid="section-{anchor}".*?</section>', page, re.S)
    assert found, anchor
    return found.group(0)


def test_the_debtor_page_shows_their_whole_story(life, creditor):
    client = staff_client(creditor)
    page = _page(client, life.debtor)
    assert privacy_life.EMAIL in page and privacy_life.PHONE in page
    for anchor in ("accounts", "plans", "instalments", "payments", "timeline", "messages",
                   "decisions", "compliance", "disputes", "pauses", "callbacks",
                   "link-requests"):  # fmt: skip
        assert "cw-table" in _section(page, anchor), anchor
    accounts = _section(page, "accounts")
    for account in life.accounts:
        assert reverse("casework_accounts:inspect", args=[account.pk]) in accounts
    assert "$110.50" in accounts  # the paid account's balance, in its currency
    # Every message opens as the debtor received it.
    messages = _section(page, "messages")
    for message in Message.objects.filter(debtor=life.debtor):
        assert reverse("messaging_outbox:inspect", args=[message.pk]) in messages
    # Every decision with its arm and its explanation.
    decisions = _section(page, "decisions")
    for decision in Decision.objects.filter(debtor=life.debtor).select_related("message"):
        assert decision.message.explanation["why"] in decisions.replace("&#x27;", "'")
        assert decision.get_arm_display() in decisions
    # Compliance decisions with their reasons' rule codes.
    assert "allowed" in _section(page, "compliance")
    # The typology, computed at the end of the life.
    assert life.debtor.typology.code in page
    assert 'data-testid="typology"' in page


def test_times_are_in_the_viewers_zone_with_the_debtors_clock(life, creditor):
    """The operator in Paris sees the timeline at Paris time, and the debtor's Boston clock
    beside it (the life happened at 15:00 UTC: 16:00 in Paris, 11:00 in Boston)."""
    client = staff_client(creditor)
    user_id = client.session["_auth_user_id"]
    UserProfile.objects.update_or_create(
        user_id=user_id, defaults={"current_time_zone": "Europe/Paris"}
    )
    timeline = _section(_page(client, life.debtor), "timeline")
    assert ">2026-03-10 16:00</time>" in timeline
    assert ">Tue 2026-03-10 11:00</time>" in timeline
    callbacks = _section(_page(client, life.debtor), "callbacks")
    # The window, on the debtor's clock.
    assert ">Thu 2026-03-12 09:00</time> - 12:00" in callbacks


def test_a_viewer_without_a_tables_permission_does_not_get_that_table(life, creditor):
    client = staff_client(creditor)
    user = get_user_model().objects.get(pk=client.session["_auth_user_id"])
    user.user_permissions.remove(
        *Permission.objects.filter(codename__in=["view_message", "view_compliancedecision"])
    )
    page = _page(client, life.debtor)
    assert 'data-testid="section-messages"' not in page
    assert 'data-testid="section-compliance"' not in page
    assert 'data-testid="section-timeline"' in page


def _longer_history(life) -> None:
    """More of everything the page lists, for the same debtor: messages (with decisions and
    compliance checks), payments and timeline entries."""
    from decimal import Decimal

    from accounts import services as accounts
    from messaging import services as messaging
    from messaging.models import MessageVariant

    account = life.accounts[0]
    variant = MessageVariant.objects.filter(live=True, channel="email").first()
    for n in range(4):
        messaging.message_send(account=account, variant=variant, slot=f"more-{n}")
        accounts.payment_record(
            account=account, amount=Decimal("1.00"), idempotency_key=f"more-{n}", method="card",
            actor="test",
        )  # fmt: skip


def test_the_page_reads_in_a_bounded_number_of_queries(
    life, creditor, django_assert_max_num_queries
):
    """The same count for a debtor with a long history as for one with a short one."""
    client = staff_client(creditor)
    _page(client, life.debtor)  # warm the per-process caches
    with django_assert_max_num_queries(QUERIES):
        _page(client, life.debtor)
    before = Message.objects.filter(debtor=life.debtor).count()
    _longer_history(life)
    assert Message.objects.filter(debtor=life.debtor).count() == before + 4
    with django_assert_max_num_queries(QUERIES):
        page = _page(client, life.debtor)
    assert page.count("/admin/messaging/outbox/") >= before + 4


def test_a_blocked_contact_shows_its_reasons_and_citations(life, creditor):
    """A call at 03:00 on the debtor's clock is refused by the region's hours: the page shows
    the answer, the rule's code and its citation."""
    from datetime import UTC, datetime

    from compliance import services as compliance

    result = compliance.contact_check(
        debtor=life.debtor, channel="call", at=datetime(2026, 3, 11, 7, 0, tzinfo=UTC)
    )
    assert not result.allowed
    checks = _section(_page(staff_client(creditor), life.debtor), "compliance")
    assert "blocked" in checks
    for reason in result.reasons:
        assert f"<code>{reason['code']}</code>" in checks
        assert reason["citation_text"] in checks.replace("&#x27;", "'")
