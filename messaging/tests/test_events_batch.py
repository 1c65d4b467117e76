"""`events_record`: many events at once leave exactly what recording them one by one leaves,
in a constant number of queries, and each key is still recorded once."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Activity
from compliance.models import ContactAttempt
from messaging import services
from messaging.models import EventKind, Message, MessageEvent
from messaging.services import EventIn, events
from messaging.tests.conftest import postgres_only, while_held

pytestmark = pytest.mark.django_db

K = EventKind


@pytest.fixture
def send(clock, make_variant, place_one):
    variant = make_variant("email")

    def make(n: int = 1) -> list[Message]:
        messages = [
            services.message_send(account=place_one(), variant=variant, planned_at=clock.now)
            for _ in range(n)
        ]
        services.dispatch_due()
        for message in messages:
            message.refresh_from_db()
            assert message.sent_at is not None
        return messages

    return make


def _script(clock, messages):
    """Events of every kind over three messages, repeats and replays among them."""
    a, b, c = messages
    at = clock.now + timedelta(minutes=5)
    return [
        EventIn(a.pk, K.OPENED, f"open:{a.pk}", "tracking", at),
        EventIn(a.pk, K.CLICKED, f"click:{a.pk}:0", "tracking", at, {"link": 0}),
        EventIn(a.pk, K.OPENED, f"open:{a.pk}", "tracking", at),  # the pixel again
        EventIn(a.pk, K.OPENED, f"open-2:{a.pk}", "tracking", at + timedelta(minutes=1)),
        EventIn(b.pk, K.DELIVERED, f"d:{b.pk}", "ses", at),
        EventIn(b.pk, K.CLICKED, f"click:{b.pk}:0", "tracking", at, {"link": 0}),
        EventIn(b.pk, K.CONVERTED, f"conv:{b.pk}", "payment", at, {"kind": "payment"}),
        EventIn(c.pk, K.BOUNCED, f"b:{c.pk}", "ses", at, {"reason": "mailbox full"}),
        EventIn(c.pk, K.COMPLAINED, f"x:{c.pk}", "ses", at),
    ]


def _state(messages):
    """What the events left, with every id replaced by the message's place in `messages`."""
    place = {m.pk: i for i, m in enumerate(messages)}
    events = {e.pk: e for e in MessageEvent.objects.filter(message__in=messages)}
    out = []
    for m in Message.objects.filter(pk__in=place).order_by("pk"):
        out.append(("message", place[m.pk], m.status, m.status_reason, m.opened_at,
                    m.clicked_at, m.delivered_at, m.converted_at))  # fmt: skip
    for e in sorted(events.values(), key=lambda e: e.pk):
        key = e.event_key.replace(str(e.message_id), "#")
        out.append(("event", place[e.message_id], e.kind, key, e.source, e.occurred_at, e.data))
    # In the timeline's own order (newest first); among rows of one time the ids' order is
    # not kept: a batch writes an opt-out's row before the stamps' rows.
    timeline = []
    for row in Activity.objects.filter(data__message_id__in=list(place)):
        data = dict(row.data, message_id=place[row.data["message_id"]])
        if "event_id" in data:
            data["event_id"] = events[data["event_id"]].kind
        timeline.append((row.occurred_at, row.kind, row.summary, row.actor, sorted(data.items())))
    out += sorted(timeline, key=lambda t: (-t[0].timestamp(), t[1:]))
    ledger = ContactAttempt.objects.filter(reference__in=[f"message:{pk}" for pk in place])
    for attempt in ledger.order_by("reference"):
        out.append(("ledger", place[int(attempt.reference[8:])], attempt.outcome))
    debtors = [m.debtor for m in Message.objects.filter(pk__in=place).order_by("pk")]
    out.append(("flags", [sorted(d.flags or []) for d in debtors]))
    return out


def test_many_at_once_leave_what_one_by_one_leaves(clock, send):
    one_by_one, batched = send(3), send(3)
    script = _script(clock, one_by_one)
    answers = [events.event_in_record(e) for e in script]  # event_record, one call each
    results = services.events_record(_script(clock, batched))
    assert [r is None for r in results] == [a is None for a in answers]
    assert [r is None for r in results] == [False, False, True, False] + [False] * 5
    assert _state(batched) == _state(one_by_one)
    assert [r.pk for r in results if r is not None] == list(
        MessageEvent.objects.filter(message__in=batched).order_by("pk").values_list("pk", flat=True)
    )


def test_keys_recorded_before_are_replays(clock, send):
    (message,) = send(1)
    services.message_open(message_id=message.pk)
    results = services.events_record(
        [
            EventIn(message.pk, K.OPENED, f"open:{message.pk}", "tracking", clock.now),
            EventIn(message.pk, K.CLICKED, f"click:{message.pk}:0", "tracking", clock.now),
        ]
    )
    assert results[0] is None and results[1].kind == K.CLICKED
    assert MessageEvent.objects.filter(message=message).count() == 2
    assert services.events_record(_script(clock, send(3))[:2] * 2)[2:] == [None, None]


def test_a_batch_replayed_whole_writes_nothing(clock, send):
    script = _script(clock, send(3))
    services.events_record(script)
    message_ids = {e.message_id for e in script}
    before = (
        MessageEvent.objects.count(),
        Activity.objects.count(),
        sorted(Message.objects.filter(pk__in=message_ids).values_list("pk", "updated_at")),
    )
    assert services.events_record(script) == [None] * len(script)
    assert before == (
        MessageEvent.objects.count(),
        Activity.objects.count(),
        sorted(Message.objects.filter(pk__in=message_ids).values_list("pk", "updated_at")),
    )


def test_the_queries_do_not_grow_with_the_events(clock, send):
    messages = send(12)

    def queries(chosen) -> int:
        events = [
            EventIn(m.pk, kind, f"{kind}:{m.pk}", "tracking", clock.now)
            for m in chosen
            for kind in (K.OPENED, K.CLICKED)
        ]
        with CaptureQueriesContext(connection) as ctx:
            services.events_record(events)
        assert MessageEvent.objects.filter(message__in=chosen).count() == len(events)
        return len(ctx.captured_queries)

    assert queries(messages[:2]) == queries(messages[2:]) <= 8


def test_without_ids_from_the_insert_the_events_ids_are_read_back(clock, send, monkeypatch):
    # SQLite before 3.35 returns no ids from a bulk insert; the timeline rows still name
    # their event.
    a, b = send(2)
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    results = services.events_record(
        [EventIn(m.pk, K.OPENED, f"open:{m.pk}", "tracking", clock.now) for m in (a, b)]
    )
    assert all(r.pk is not None for r in results)
    for event in results:
        (row,) = Activity.objects.filter(data__event_id=event.pk)
        assert row.data["message_id"] == event.message_id


def test_a_message_that_does_not_exist_or_an_unknown_kind_writes_nothing(clock, send):
    (message,) = send(1)
    ok = EventIn(message.pk, K.OPENED, f"open:{message.pk}", "tracking", clock.now)
    with pytest.raises(Message.DoesNotExist):
        services.events_record([ok, EventIn(10**9, K.OPENED, "open:x", "tracking", clock.now)])
    with pytest.raises(ValueError, match="unknown event kind"):
        services.events_record([ok, EventIn(message.pk, "seen", "s:1", "tracking", clock.now)])
    assert not MessageEvent.objects.exists()
    message.refresh_from_db()
    assert message.opened_at is None
    assert services.events_record([]) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_key_recorded_meanwhile_by_another_process_is_a_replay(committed_baseline, clock, send):
    postgres_only()
    first, other, third = send(3)
    _, answers = while_held(  # the batch's insert waits on the first's uncommitted key
        lambda: services.event_record(
            message=first, kind=K.DELIVERED, event_key="provider-7", source="ses"
        ),
        lambda: services.events_record(
            [
                EventIn(other.pk, K.DELIVERED, "provider-7", "ses", clock.now),
                EventIn(third.pk, K.OPENED, f"open:{third.pk}", "tracking", clock.now),
            ]
        ),
    )
    assert answers[0] is None and answers[1].kind == K.OPENED
    assert MessageEvent.objects.filter(event_key="provider-7").get().message_id == first.pk
    assert MessageEvent.objects.filter(message=third).count() == 1
