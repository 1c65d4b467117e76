"""The debtor's local weekday and hour stored on a message when it is sent
(`Message.sent_local_weekday`, `sent_local_hour`): what the hand-off writes, what the outbox's
local-time filter (`messages_sent_local`) lists, and what the migration backfills, each the
same as reading `sent_at` in the debtor's zone (`send_zone`), across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import import_module

import pytest
from django.apps import apps
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay

from accounts.models import Debtor
from compliance.selectors import ruleset_current
from messaging import services
from messaging.models import Message
from messaging.selectors import messages_sent_local, send_zone, sent_local

pytestmark = pytest.mark.django_db

backfill = import_module("messaging.migrations.0011_message_sent_local_backfill").backfill


@pytest.mark.parametrize(
    ("zone", "region", "at", "expected"),
    [
        # New York springs forward on Sunday 8 March 2026 at 02:00 EST (07:00 UTC).
        ("America/New_York", "US-MA", datetime(2026, 3, 8, 6, 59, tzinfo=UTC), (6, 1)),
        ("America/New_York", "US-MA", datetime(2026, 3, 8, 7, 0, tzinfo=UTC), (6, 3)),
        # ... and falls back on Sunday 1 November at 02:00 EDT (06:00 UTC): 01:xx twice.
        ("America/New_York", "US-MA", datetime(2026, 11, 1, 5, 30, tzinfo=UTC), (6, 1)),
        ("America/New_York", "US-MA", datetime(2026, 11, 1, 6, 30, tzinfo=UTC), (6, 1)),
        ("America/New_York", "US-MA", datetime(2026, 11, 1, 7, 30, tzinfo=UTC), (6, 2)),
        # London on Sunday 29 March at 01:00 UTC; Paris the same instant, an hour ahead.
        ("Europe/London", "GB", datetime(2026, 3, 29, 0, 59, tzinfo=UTC), (6, 0)),
        ("Europe/London", "GB", datetime(2026, 3, 29, 1, 0, tzinfo=UTC), (6, 2)),
        ("Europe/Paris", "FR", datetime(2026, 3, 29, 1, 0, tzinfo=UTC), (6, 3)),
        # Across midnight: Monday in UTC, still Sunday in Los Angeles.
        ("America/Los_Angeles", "US-CA", datetime(2026, 3, 9, 6, 0, tzinfo=UTC), (6, 23)),
        # No zone of their own, or one that names none: their region's.
        ("", "US-CA", datetime(2026, 3, 9, 6, 0, tzinfo=UTC), (6, 23)),
        ("Mars/Olympus", "GB", datetime(2026, 3, 29, 1, 0, tzinfo=UTC), (6, 2)),
    ],
)
def test_the_local_send_time_is_read_on_the_debtors_clock_across_dst(zone, region, at, expected):
    debtor = Debtor(timezone=zone, region=region)
    assert sent_local(debtor, at, rules=ruleset_current()) == expected


# Weekdays at 17:00 UTC on either side of the spring and autumn changes in the US (8 March,
# 1 November) and in Europe (29 March, 25 October): within every region's contact hours.
SENDS = [
    datetime(2026, month, day, 17, 0, tzinfo=UTC)
    for month, day in ((3, 6), (3, 9), (3, 27), (3, 30), (10, 23), (10, 26), (10, 30), (11, 2))
]
DEBTORS = [
    {},  # Massachusetts, New York time
    {"region": "US-CA", "timezone": "America/Los_Angeles"},
    {"region": "US-CA", "timezone": ""},  # none on record: the region's
    {"region": "US-MA", "timezone": "Europe/London"},  # their own zone wins
    {"region": "FR", "timezone": "Europe/Paris"},
]


DISCLOSURES = {
    "collector_name": "Test Collections Ltd",
    "collector_address": "1 Test Way, Boston MA 02101",
    "creditor_address": "2 Utility Road, Springfield",
    "ca_license_number": "CA-000000",
    "supervisory_authority": "Test Authority",
    "interest_calculation": "No interest is charged.",
    "collection_costs": "No collection costs are charged.",
    "vat_statement": "No VAT is charged.",
    "address_source": "Your address was provided by the creditor.",
    "payment_methods": "card, bank transfer",
}


@pytest.fixture
def sent_around_dst(clock, make_variant, place_one, settings):
    """Five debtors in four zones, each sent an e-mail through the dispatcher at each of
    `SENDS`."""
    # The deployment facts California's and France's disclosures need.
    settings.MESSAGING_DISCLOSURE_VALUES = DISCLOSURES
    email = make_variant("email")
    for at in SENDS:
        clock.set(at)
        for debtor in DEBTORS:
            account = place_one(debtor=debtor)
            if debtor.get("timezone") == "":  # placement records a zone; older rows may not
                Debtor.objects.filter(pk=account.debtor_id).update(timezone="")
            services.message_send(account=account, variant=email, planned_at=at)
        assert services.dispatch_due(now=at).sent == len(DEBTORS)
    return list(Message.objects.select_related("debtor").order_by("pk"))


def _in_database_zone(message: Message) -> tuple[int, int]:
    """`sent_at` converted by the database in the debtor's zone, as the outbox filter read it
    before the local time was stored."""
    debtor = message.debtor
    zone = send_zone(timezone=debtor.timezone, region=debtor.region)
    row = (
        Message.objects.filter(pk=message.pk)
        .annotate(
            w=ExtractIsoWeekDay("sent_at", tzinfo=zone), h=ExtractHour("sent_at", tzinfo=zone)
        )
        .values_list("w", "h")
        .get()
    )
    return row[0] - 1, row[1]


def test_the_hand_off_stores_the_debtors_local_send_time(sent_around_dst):
    assert len(sent_around_dst) == len(SENDS) * len(DEBTORS)
    for message in sent_around_dst:
        stored = (message.sent_local_weekday, message.sent_local_hour)
        assert stored == _in_database_zone(message), (message.debtor.timezone, message.sent_at)
    # The changes show: New York at 12:00 on the Friday before, 13:00 on the Monday after.
    new_york = [
        m
        for m in sent_around_dst
        if m.debtor.region == "US-MA" and not m.debtor.timezone.startswith("Europe")
    ]
    assert [m.sent_local_hour for m in new_york] == [12, 13, 13, 13, 13, 13, 13, 12]


def test_the_outbox_filter_lists_the_messages_sent_at_a_local_time(sent_around_dst):
    expected = {m.pk: _in_database_zone(m) for m in sent_around_dst}
    everything = Message.objects.all()
    slots = set(expected.values())
    assert len(slots) > 5
    for weekday, hour in [*slots, (2, 3)]:
        listed = set(
            messages_sent_local(everything, hour=hour, weekday=weekday).values_list("pk", flat=True)
        )
        assert listed == {pk for pk, slot in expected.items() if slot == (weekday, hour)}
    for hour in {h for _w, h in slots}:
        listed = set(messages_sent_local(everything, hour=hour).values_list("pk", flat=True))
        assert listed == {pk for pk, (_w, h) in expected.items() if h == hour}
    for weekday in range(7):
        listed = set(messages_sent_local(everything, weekday=weekday).values_list("pk", flat=True))
        assert listed == {pk for pk, (w, _h) in expected.items() if w == weekday}


def test_the_migration_backfills_the_local_send_time_the_hand_off_would_store(
    sent_around_dst, place_one
):
    stored = {m.pk: (m.sent_local_weekday, m.sent_local_hour) for m in sent_around_dst}
    planned = services.message_send(
        account=place_one(), variant=sent_around_dst[0].variant, planned_at=SENDS[-1]
    )
    # Rows sent before the hand-off stored a local time.
    Message.objects.update(sent_local_weekday=None, sent_local_hour=None)
    backfill(apps, None)
    after = Message.objects.values_list("pk", "sent_local_weekday", "sent_local_hour")
    assert {pk: (weekday, hour) for pk, weekday, hour in after} == {
        **stored,
        planned.pk: (None, None),  # not sent: no local send time
    }
