"""The cockpit's rollups and its Engagement page: messages sent through the real services,
their events recorded as providers and tracking would, the rollups refreshed as the scheduled
task does, and the page read as an operator would (two creditors, each seeing their own)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.tests.factories import place, row, staff_client
from collections_site.operations.models import EngagementDay, SendTimeDay, TypologyDay
from collections_site.operations.rollups import rollups_refresh
from messaging import services
from messaging.models import EventKind, Message
from messaging.services.events import event_record
from messaging.tests import conftest as messaging_fixtures

pytestmark = pytest.mark.django_db

_compliance_rules_fresh = messaging_fixtures._compliance_rules_fresh
clock = messaging_fixtures.clock
make_variant = messaging_fixtures.make_variant
place_one = messaging_fixtures.place_one
reviewer = messaging_fixtures.reviewer

URL = "/admin/operations/engagement/"


def _event(message: Message, kind: str, clock) -> None:
    event_record(
        message=message, kind=kind, event_key=f"{kind}:{message.pk}", source="test",
        occurred_at=clock.now,
    )  # fmt: skip


@pytest.fixture
def sent(clock, make_variant, place_one, other_creditor):
    """Four messages sent now for the first creditor (one delivered, opened, clicked and
    converted; one only delivered; two with no news) and one for the other creditor."""
    variant = make_variant("email")
    ours = [
        services.message_send(account=place_one(), variant=variant, planned_at=clock.now)
        for _ in range(4)
    ]
    (account,) = place(other_creditor, row("other"))
    theirs = services.message_send(account=account, variant=variant, planned_at=clock.now)
    assert services.dispatch_due().sent == 5
    ours = [Message.objects.get(pk=m.pk) for m in ours]
    assert all(m.sent_at for m in ours), [m.status for m in ours]
    for kind in (EventKind.DELIVERED, EventKind.OPENED, EventKind.CLICKED, EventKind.CONVERTED):
        _event(ours[0], kind, clock)
    _event(ours[1], EventKind.DELIVERED, clock)
    return {"ours": ours, "theirs": Message.objects.get(pk=theirs.pk), "variant": variant}


def _messages(results):
    """The outbox rollup's result among every rollup's."""
    (result,) = [r for r in results if r.name == "messages"]
    return result


def _funnel(**filters) -> dict[str, int]:
    rows = EngagementDay.objects.filter(**filters)
    return {
        s: sum(getattr(r, s) for r in rows)
        for s in ("sent", "delivered", "opened", "clicked", "converted")
    }


def test_a_refresh_counts_each_message_once_in_every_stage_it_reached(clock, sent):
    result = _messages(rollups_refresh())
    assert result.days == 1
    creditor = sent["ours"][0].creditor_id
    assert _funnel(creditor_id=creditor) == {
        "sent": 4, "delivered": 2, "opened": 1, "clicked": 1, "converted": 1,
    }  # fmt: skip
    assert _funnel()["sent"] == 5
    # The send-time and typology rollups count the same messages.
    assert sum(r.sent for r in SendTimeDay.objects.filter(creditor_id=creditor)) == 4
    assert sum(r.converted for r in TypologyDay.objects.filter(creditor_id=creditor)) == 1


def test_a_later_event_is_folded_into_its_send_day_and_a_rerun_changes_nothing(clock, sent):
    rollups_refresh()
    before = list(EngagementDay.objects.values_list("day", "sent", "converted").order_by("pk"))
    clock.set(clock.now + timedelta(days=2))
    overlap = _messages(rollups_refresh())
    assert overlap.days == 1  # changed just before the watermark: looked at once more
    again = _messages(rollups_refresh())
    assert again.days == 0  # nothing changed since
    _event(sent["ours"][2], EventKind.CONVERTED, clock)
    after = _messages(rollups_refresh())
    assert after.days == 1  # only the send day is rebuilt
    assert _funnel(creditor_id=sent["ours"][0].creditor_id)["converted"] == 2
    assert [d for d, *_ in before] == list(EngagementDay.objects.values_list("day", flat=True))
    rollups_refresh(full=True)
    assert _funnel()["converted"] == 2


def test_the_send_time_rollup_uses_the_debtors_local_hour(clock, sent):
    rollups_refresh()
    message = sent["ours"][0]
    local = message.sent_at.astimezone(__import__("zoneinfo").ZoneInfo(message.debtor.timezone))
    cell = SendTimeDay.objects.get(
        creditor_id=message.creditor_id, local_hour=local.hour, local_weekday=local.weekday()
    )
    assert cell.sent == 4
    assert cell.converted == 1


def test_the_engagement_page_shows_the_funnel_with_intervals_and_links(clock, sent):
    rollups_refresh()
    creditor = sent["ours"][0].creditor
    page = staff_client(creditor).get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'role="group"' in html  # the chart
    assert "<caption>Engagement funnel, with 95% intervals</caption>" in html
    # Converted: 1 of 4 sent, with its Wilson interval.
    assert "25% [5%, 70%]" in html or "25% [4.6%, 70%]" in html
    # The converted bar links to the messages that converted, in the period.
    assert "reached=converted" in html
    assert "/admin/messaging/outbox/?sent_from=" in html
    # Split by tone, by variant: the same total.
    for by in ("tone", "variant", "cta", "stage"):
        assert staff_client(creditor).get(URL, {"by": by}).status_code == 200


def test_a_creditors_staff_count_only_their_own_messages(clock, sent, other_creditor):
    rollups_refresh()
    page = staff_client(other_creditor).get(URL).content.decode()
    # The other creditor sent one message, none delivered.
    assert '<th scope=row><a href="' in page
    assert ">1</td>" in page
    assert ">4</td>" not in page
    # Asking for the first creditor's figures by id changes nothing.
    mine = sent["ours"][0].creditor_id
    page = staff_client(other_creditor).get(URL, {"creditor": mine}).content.decode()
    assert ">4</td>" not in page


@pytest.mark.parametrize(
    "query",
    [
        {"start": "2026-13-01"},
        {"start": "2026-06-10", "end": "2026-06-01"},
        {"start": "2020-01-01", "end": "2026-01-01"},
        {"channel": "pigeon"},
        {"creditor": "abc"},
        {"region": "XX-NOPE"},
        {"by": "<script>"},
    ],
)
def test_bad_filters_are_form_errors_not_errors(clock, sent, query):
    page = staff_client(agency=True).get(URL, query)
    assert page.status_code == 200
    assert "<script>" not in page.content.decode().split("</header>")[-1]


def test_the_refresh_command_rebuilds_a_day_and_refuses_a_bad_one(clock, sent, capsys):
    call_command("rollups_refresh", "--day", clock.now.date().isoformat())
    assert "messages: 1 days" in capsys.readouterr().out
    with pytest.raises(CommandError, match="not a date"):
        call_command("rollups_refresh", "--day", "yesterday")
