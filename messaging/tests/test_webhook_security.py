"""No forged, unsigned or replayed provider event changes anything.

For Twilio's status callback and inbound messages, with DEBUG off: a forged event (wrong
signature) and an unsigned one are refused with a 4xx, and a replayed one is a 2xx that
changes nothing (the providers retry anything but a 2xx, and a replay of a request already
acted on must stop them retrying). "Nothing changed" is checked on the message (status,
delivered/opened stamps), the debtor's flags, the compliance ledger, the timeline and the
recorded events.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.urls import reverse

from accounts.models import Activity, Debtor
from compliance.models import ContactAttempt
from messaging import services
from messaging.models import Message, MessageEvent
from messaging.webhooks import twilio_signature

pytestmark = pytest.mark.django_db

PHONE = "+16175550123"


@pytest.fixture(autouse=True)
def _debug_off(settings):
    settings.DEBUG = False  # as in production: errors are plain 500s, nothing is shown


@pytest.fixture
def http(client):
    client.raise_request_exception = False  # a 500 is an answer to look at, not an exception
    return client


def state(message: Message) -> dict[str, Any]:
    """Everything a provider event could change."""
    m = Message.objects.get(pk=message.pk)
    return {
        "message": (m.status, m.status_reason, m.delivered_at, m.opened_at, m.clicked_at),
        "flags": sorted(Debtor.objects.get(pk=m.debtor_id).flags or []),
        "ledger": list(
            ContactAttempt.objects.order_by("pk").values_list("reference", "outcome", "at")
        ),
        "timeline": list(Activity.objects.order_by("pk").values_list("kind", "data")),
        "events": list(MessageEvent.objects.order_by("pk").values_list("event_key", "kind")),
    }


# --- Twilio ----------------------------------------------------------------------------------


@pytest.fixture
def sent_sms(clock, make_variant, place_one, twilio):
    variant = make_variant("sms")
    message = services.message_send(account=place_one(), variant=variant, planned_at=clock.now)
    assert services.dispatch_due().sent == 1
    message.refresh_from_db()
    return message


def _twilio(client, settings, path, params, *, query="", signature=None, unsigned=False):
    url = f"{settings.SITE_URL}{path}{query}"
    good = twilio_signature(url, {k: [v] for k, v in params.items()}, settings.TWILIO_AUTH_TOKEN)
    headers = {} if unsigned else {"X-Twilio-Signature": signature or good}
    return client.post(path + query, params, headers=headers)


def _forged_signature(settings, path, params, query=""):
    url = f"{settings.SITE_URL}{path}{query}"
    return twilio_signature(url, {k: [v] for k, v in params.items()}, "not-the-auth-token")


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("status", ["delivered", "undelivered", "read"])
def test_twilio_status_forged_unsigned_and_replayed(sent_sms, http, settings, debug, status):
    settings.DEBUG = debug
    path, query = reverse("messaging:twilio_status"), f"?m={sent_sms.pk}"
    params = {"MessageSid": sent_sms.provider_id, "MessageStatus": status, "ErrorCode": "30003"}
    before = state(sent_sms)
    forged = _forged_signature(settings, path, params, query)
    assert _twilio(http, settings, path, params, query=query, signature=forged).status_code == 403
    assert _twilio(http, settings, path, params, query=query, unsigned=True).status_code == 403
    assert state(sent_sms) == before
    assert _twilio(http, settings, path, params, query=query).status_code == 204
    after = state(sent_sms)
    assert after != before
    assert _twilio(http, settings, path, params, query=query).status_code == 204  # replay
    assert state(sent_sms) == after


def test_twilio_status_without_a_message_sid_is_a_400(sent_sms, http, settings):
    path, query = reverse("messaging:twilio_status"), f"?m={sent_sms.pk}"
    before = state(sent_sms)
    response = _twilio(http, settings, path, {"MessageStatus": "failed"}, query=query)
    assert response.status_code == 400
    assert state(sent_sms) == before


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("body", ["STOP", "START", "I will pay on Friday"])
def test_twilio_inbound_forged_and_unsigned_change_nothing(sent_sms, http, settings, debug, body):
    settings.DEBUG = debug
    path = reverse("messaging:twilio_inbound")
    if body == "START":  # something to undo
        services.debtor_opt_out(debtor=sent_sms.debtor, channel="sms", source="test")
    params = {"From": PHONE, "Body": body, "MessageSid": "SMforged"}
    before = state(sent_sms)
    forged = _forged_signature(settings, path, params)
    assert _twilio(http, settings, path, params, signature=forged).status_code == 403
    assert _twilio(http, settings, path, params, unsigned=True).status_code == 403
    assert state(sent_sms) == before


def test_a_replayed_start_after_a_stop_does_not_resubscribe(sent_sms, http, settings):
    path = reverse("messaging:twilio_inbound")
    start = {"From": PHONE, "Body": "START", "MessageSid": "SMstart"}
    stop = {"From": PHONE, "Body": "STOP", "MessageSid": "SMstop"}
    assert _twilio(http, settings, path, stop).status_code == 200
    assert _twilio(http, settings, path, start).status_code == 200
    assert _twilio(http, settings, path, {**stop, "MessageSid": "SMstop2"}).status_code == 200
    after = state(sent_sms)
    assert "opted_out_sms" in after["flags"]
    replay = _twilio(http, settings, path, start)  # captured, correctly signed, sent again
    assert replay.status_code == 200 and b"<Response>" in replay.content
    assert state(sent_sms) == after


def test_a_replayed_reply_or_stop_changes_nothing(sent_sms, http, settings):
    path = reverse("messaging:twilio_inbound")
    for body, sid in (("I will pay on Friday", "SMreply"), ("STOP", "SMstop")):
        params = {"From": PHONE, "Body": body, "MessageSid": sid}
        assert _twilio(http, settings, path, params).status_code == 200
        after = state(sent_sms)
        assert _twilio(http, settings, path, params).status_code == 200
        assert state(sent_sms) == after


def test_twilio_inbound_without_a_message_sid_is_a_400(sent_sms, http, settings):
    path = reverse("messaging:twilio_inbound")
    before = state(sent_sms)
    assert _twilio(http, settings, path, {"From": PHONE, "Body": "STOP"}).status_code == 400
    assert state(sent_sms) == before
    sms_sid = {"From": PHONE, "Body": "STOP", "SmsSid": "SMold"}  # the older parameter name
    assert _twilio(http, settings, path, sms_sid).status_code == 200


# --- PostgreSQL: concurrent deliveries of one request ----------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_request_are_acted_on_once(committed_baseline):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL")
    barrier = threading.Barrier(4)
    claims: list[str] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                claims.append(services.webhook_receipt_claim(key="twilio:inbound:SMrace",
                                                             source="twilio"))  # fmt: skip
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(claims) == ["new", "replay", "replay", "replay"]


def test_a_receipt_needs_the_requests_transaction():
    with pytest.raises(ValueError), transaction.atomic():
        services.webhook_receipt_claim(key="", source="twilio")
    digest = services.body_digest(b"body")
    assert digest == hashlib.sha256(b"body").hexdigest()
