"""The cockpit's rollups and its Engagement page: messages sent through the real services,
their events recorded as providers and tracking would, the rollups refreshed as the scheduled
task does, and the page read as an operator would (two creditors, each seeing their own)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Debtor
from accounts.tests.factories import place, row, staff_client
from collections_site.operations import rollups
from collections_site.operations.models import (
    ComplianceDay,
    EngagementDay,
    OutboxStatusDay,
    SendTimeDay,
    TypologyDay,
)
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


def test_a_failure_reported_late_is_folded_into_its_days(clock, sent):
    """A provider's failure event stamps the message with the provider's time, which may be
    long before the last refresh; the row's change time is when it was recorded, so the
    next refresh still rebuilds the message's send and creation days."""
    rollups_refresh()
    bounced = sent["ours"][2]
    clock.set(clock.now + timedelta(hours=3))
    rollups_refresh()  # the watermark is now three hours after the send
    clock.set(clock.now + timedelta(minutes=5))
    event_record(
        message=bounced, kind=EventKind.BOUNCED, event_key=f"bounce:{bounced.pk}",
        source="test", occurred_at=bounced.sent_at + timedelta(minutes=1),
    )  # fmt: skip
    bounced.refresh_from_db()
    assert bounced.status == "failed"
    assert bounced.status_changed_at == bounced.sent_at + timedelta(minutes=1)
    rollups_refresh()
    day = EngagementDay.objects.filter(creditor_id=bounced.creditor_id)
    assert sum(r.failed for r in day) == 1
    statuses = OutboxStatusDay.objects.filter(creditor_id=bounced.creditor_id, status="failed")
    assert sum(r.messages for r in statuses) == 1


def _rollup_rows() -> dict[str, list[tuple]]:
    """Every row of the message and compliance rollups, without their ids."""
    tables = (EngagementDay, SendTimeDay, TypologyDay, OutboxStatusDay, ComplianceDay)
    out = {}
    for model in tables:
        fields = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
        out[model.__name__] = sorted(model.objects.values_list(*fields), key=repr)
    return out


def test_an_ordinary_refresh_after_days_of_changes_equals_a_full_rebuild(
    clock, make_variant, place_one, monkeypatch
):
    """Sends on three days, refreshed; then a day of changes: opens, clicks, conversions,
    deliveries and a late bounce on the first and third days' messages (not the second's)
    and new sends. The ordinary refresh rebuilds the touched days (two at a time here, so
    the days fall into several transactions and runs) and gives the rows a full rebuild
    gives."""
    monkeypatch.setattr(rollups, "CHUNK_DAYS", 2)
    email = make_variant("email")
    start = clock.now
    sent = []
    for days in (0, 1, 2):
        clock.set(start + timedelta(days=days))
        batch = [
            services.message_send(account=place_one(), variant=email, planned_at=clock.now)
            for _ in range(3)
        ]
        assert services.dispatch_due(now=clock.now).sent == 3
        sent.append([Message.objects.get(pk=m.pk) for m in batch])
    rollups_refresh()
    clock.set(start + timedelta(days=3))
    first, _second, third = sent
    for message, kinds in (
        (first[0], (EventKind.DELIVERED, EventKind.OPENED, EventKind.CLICKED)),
        (first[1], (EventKind.DELIVERED, EventKind.CONVERTED)),
        (third[0], (EventKind.OPENED,)),
    ):
        for kind in kinds:
            _event(message, kind, clock)
    event_record(
        message=third[1], kind=EventKind.BOUNCED, event_key=f"bounce:{third[1].pk}",
        source="test", occurred_at=third[1].sent_at,
    )  # fmt: skip
    for _ in range(2):
        services.message_send(account=place_one(), variant=email, planned_at=clock.now)
    assert services.dispatch_due(now=clock.now).sent == 2
    results = {r.name: r for r in rollups_refresh()}
    assert results["messages"].days == 3  # the first and third send days, and today
    assert results["outbox"].days == 3
    incremental = _rollup_rows()
    assert sum(row[-1] for row in incremental["OutboxStatusDay"]) == 11
    rollups_refresh(full=True)
    assert _rollup_rows() == incremental


# --- the send-time heatmap and the outbox behind each cell -----------------------------------

_CELL = re.compile(
    r'<th scope=row><a href="([^"]+)">(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (\d\d):00</a></th>'
    r"<td>([\d,]+)</td>"
)


@pytest.fixture
def around_the_clock(clock, make_variant, place_one, settings):
    """Twelve e-mails sent on Tuesday at 16:00 and 19:00 UTC and on Wednesday at 16:00 to
    debtors in four local zones: Massachusetts (New York time), California (Los Angeles), a
    Massachusetts debtor whose own zone is London (their zone wins over the region's), and
    a California debtor with no zone on record (the region's is used)."""
    # California's required disclosure.
    settings.MESSAGING_DISCLOSURE_VALUES = {
        **settings.MESSAGING_DISCLOSURE_VALUES,
        "ca_license_number": "TEST-0001",
    }
    email = make_variant("email")
    start = clock.now
    for hours in (1, 4, 25):
        clock.set(start + timedelta(hours=hours))
        accounts = [
            place_one(),
            place_one(debtor={"region": "US-CA"}),
            place_one(debtor={"timezone": "Europe/London"}),
            place_one(debtor={"region": "US-CA"}),
        ]
        # Placement always records a zone; older rows may have none.
        Debtor.objects.filter(pk=accounts[-1].debtor_id).update(timezone="")
        for account in accounts:
            services.message_send(account=account, variant=email, planned_at=clock.now)
        assert services.dispatch_due(now=clock.now).sent == 4
    rollups_refresh()


def test_each_heatmap_cell_links_to_exactly_the_messages_it_counts(clock, around_the_clock):
    client = staff_client(agency=True)
    page = client.get(URL)
    html = page.content.decode()
    cells = _CELL.findall(html)
    # New York 12:00 and 15:00 Tuesday, 12:00 Wednesday; Los Angeles 09:00, 12:00, 09:00;
    # London 16:00, 19:00, 16:00.
    assert {(day, hour) for _url, day, hour, _n in cells} == {
        ("Tue", "09"), ("Tue", "12"), ("Tue", "15"), ("Tue", "16"), ("Tue", "19"),
        ("Wed", "09"), ("Wed", "12"), ("Wed", "16"),
    }  # fmt: skip
    assert sum(int(n) for *_rest, n in cells) == 12
    for url, day, hour, n in cells:
        url = url.replace("&amp;", "&")
        assert f"local_hour={int(hour)}" in url and "local_weekday=" in url, url
        listed = client.get(url)
        assert listed.status_code == 200
        assert listed.context["items_count"] == int(n), (day, hour, url)
    # The chart's cells carry the same links as its table.
    assert html.count("local_hour=") == 2 * len(cells)


def test_a_creditors_staff_follow_a_cell_to_their_own_messages_only(
    clock, around_the_clock, other_creditor, creditor
):
    (account,) = place(other_creditor, row("other"))
    services.message_send(
        account=account, variant=Message.objects.first().variant, planned_at=clock.now
    )
    assert services.dispatch_due(now=clock.now).sent == 1
    rollups_refresh()
    ours = staff_client(creditor)
    for url, day, hour, n in _CELL.findall(ours.get(URL).content.decode()):
        listed = ours.get(url.replace("&amp;", "&"))
        assert listed.context["items_count"] == int(n), (day, hour)
