"""Every event is recorded once: replays answer as the first call did, and only a recorded
event key is taken for a replay."""

from datetime import timedelta

import pytest
from django.db import IntegrityError

from accounts.models import Activity, ActivityKind
from messaging import services
from messaging.models import EventKind, MessageEvent
from messaging.services import events
from messaging.tests.conftest import postgres_only, while_held

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(clock, make_variant, place_one):
    message = services.message_send(
        account=place_one(), variant=make_variant("email"), planned_at=clock.now
    )
    services.dispatch_due()  # (committed tests have delivered it already, on commit)
    message.refresh_from_db()
    assert message.sent_at is not None and message.links
    return message


def _timeline(message, kind):
    return list(Activity.objects.filter(kind=kind, data__message_id=message.pk))


def test_opens_clicks_and_provider_events_replayed_are_recorded_once(sent):
    assert services.message_open(message_id=sent.pk) is True
    assert services.message_open(message_id=sent.pk) is True  # the pixel loaded again
    target = sent.links[0]
    assert services.message_click(message_id=sent.pk, index=0) == target
    assert services.message_click(message_id=sent.pk, index=0) == target  # clicked again
    first = services.event_record(message=sent, kind="delivered", event_key="d-1", source="ses")
    again = services.event_record(message=sent, kind="delivered", event_key="d-1", source="ses")
    assert first is not None and again is None
    kinds = MessageEvent.objects.filter(message=sent).values_list("kind", flat=True)
    assert sorted(kinds) == sorted([EventKind.OPENED, EventKind.CLICKED, EventKind.DELIVERED])
    (opened,) = _timeline(sent, ActivityKind.MESSAGE_OPENED)
    assert len(_timeline(sent, ActivityKind.MESSAGE_CLICKED)) == 1
    assert len(_timeline(sent, ActivityKind.MESSAGE_DELIVERED)) == 1
    event = MessageEvent.objects.get(message=sent, kind=EventKind.OPENED)
    assert (opened.creditor_id, opened.debtor_id, opened.account_id) == (
        sent.creditor_id, sent.debtor_id, sent.account_id,
    )  # fmt: skip
    assert opened.actor == "system"
    assert opened.data == {
        "message_id": sent.pk, "channel": "email", "event_id": event.pk, "source": "tracking",
    }  # fmt: skip
    sent.refresh_from_db()
    assert sent.opened_at is not None and sent.clicked_at is not None
    assert sent.status == "delivered"


def test_tracking_answers_nothing_for_a_link_or_message_that_does_not_exist(
    sent, clock, make_variant, place_one
):
    assert services.message_click(message_id=sent.pk, index=len(sent.links)) is None
    assert services.message_click(message_id=sent.pk, index=-1) is None
    planned = services.message_send(
        account=place_one(), variant=make_variant("email"),
        planned_at=clock.now + timedelta(days=1),
    )  # fmt: skip
    assert services.message_open(message_id=planned.pk) is False  # not sent yet
    assert services.message_open(message_id=10**9) is False
    assert services.message_click(message_id=10**9, index=0) is None
    assert not MessageEvent.objects.exists()


def test_an_integrity_error_other_than_a_recorded_key_is_not_taken_for_a_replay(sent):
    def write():  # occurred_at is required: a real constraint of the table, not the key's
        return MessageEvent.objects.create(
            message=sent, kind=EventKind.OPENED, event_key="new-key", source="t", occurred_at=None
        )

    with pytest.raises(IntegrityError):
        events._once(write, "new-key", replayed=lambda: "replayed")
    assert not MessageEvent.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_open_in_two_transactions_at_once_is_recorded_once(committed_baseline, sent):
    postgres_only()
    answers = while_held(
        lambda: services.message_open(message_id=sent.pk),
        lambda: services.message_open(message_id=sent.pk),
    )
    assert answers == (True, True)
    assert MessageEvent.objects.filter(message=sent).count() == 1
    assert len(_timeline(sent, ActivityKind.MESSAGE_OPENED)) == 1
