"""No forged, unsigned or replayed provider event changes anything.

For every webhook (the configured ESP's anymail tracking webhook, Twilio's status callback and
inbound messages), with DEBUG off: a forged event (wrong signature or credentials) and an
unsigned one are refused with a 4xx, and a replayed one is a 2xx that changes nothing (the
providers retry anything but a 2xx, and a replay of a request already acted on must stop them
retrying). "Nothing changed" is checked on the message (status, delivered/opened stamps), the
debtor's flags, the compliance ledger, the timeline and the recorded events.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection, connections, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Activity, Debtor
from compliance.models import ContactAttempt
from messaging import services
from messaging.models import Message, MessageEvent, MessageStatus
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


@pytest.fixture
def sent_email(clock, make_variant, place_one):
    variant = make_variant("email")
    message = services.message_send(account=place_one(), variant=variant, planned_at=clock.now)
    assert services.dispatch_due().sent == 1  # through locmem
    message.refresh_from_db()
    return message


# --- anymail: one spec per ESP ---------------------------------------------------------------

EVENTS = ("complained", "opened", "bounced")  # opts out, poisons rewards, fails + rewrites ledger


@dataclass
class Esp:
    """How an ESP posts one tracking event, genuinely or not."""

    name: str
    anymail: dict[str, Any]

    @property
    def path(self) -> str:
        return f"/m/hooks/anymail/{self.name}/tracking/"

    def configure(self, settings) -> None:
        settings.MESSAGING_EMAIL_BACKEND = f"anymail.backends.{self.name}.EmailBackend"
        settings.ANYMAIL = dict(self.anymail)

    def post(self, client, message, event, *, event_id, forged=False, unsigned=False):
        raise NotImplementedError


def _now() -> int:
    return int(timezone.now().timestamp())


class Mailgun(Esp):
    """Signed: HMAC-SHA256 of timestamp + token with the webhook signing key."""

    kinds = {"complained": "complained", "opened": "opened", "bounced": "failed",
             "delivered": "delivered", "accepted": "accepted"}  # fmt: skip

    def payload(self, message, event, *, event_id, key="signing", timestamp=None, token=None):
        timestamp = str(timestamp or _now())
        token = token or f"tok-{event_id}"
        signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), "sha256").hexdigest()
        return {
            "signature": {"timestamp": timestamp, "token": token, "signature": signature},
            "event-data": {
                "event": self.kinds[event],
                "id": event_id,
                "timestamp": _now(),
                "recipient": message.recipient,
                "message": {"headers": {"message-id": message.provider_id.strip("<>")}},
                "user-variables": {"message_id": str(message.pk)},
                "severity": "permanent",
                "reason": "bounce",
            },
        }

    def send(self, client, payload):
        return client.post(self.path, json.dumps(payload), content_type="application/json")

    def post(self, client, message, event, *, event_id, forged=False, unsigned=False):
        payload = self.payload(message, event, event_id=event_id,
                               key="not-the-key" if forged else "signing")  # fmt: skip
        if unsigned:
            del payload["signature"]
        return self.send(client, payload)


class Mandrill(Esp):
    """Signed: HMAC-SHA1 of the webhook URL and the sorted POST parameters."""

    kinds = {"complained": "spam", "opened": "open", "bounced": "hard_bounce"}
    url = "https://collections.example/m/hooks/anymail/mandrill/tracking/"

    def post(self, client, message, event, *, event_id, forged=False, unsigned=False):
        events = [{
            "event": self.kinds[event],
            "_id": f"mandrill-{event_id}",
            "ts": _now(),
            "msg": {"email": message.recipient, "metadata": {"message_id": str(message.pk)}},
        }]  # fmt: skip
        params = {"mandrill_events": json.dumps(events)}
        key = b"not-the-key" if forged else b"mkey"
        signed = self.url + "".join(k + v for k, v in sorted(params.items()))
        signature = base64.b64encode(hmac.new(key, signed.encode(), "sha1").digest()).decode()
        headers = {} if unsigned else {"X-Mandrill-Signature": signature}
        return client.post(self.path, params, headers=headers)


class MailerSend(Esp):
    """Signed: HMAC-SHA256 of the body with the signing secret."""

    kinds = {"complained": "spam_complaint", "opened": "opened", "bounced": "hard_bounced"}

    def post(self, client, message, event, *, event_id, forged=False, unsigned=False):
        body = json.dumps({
            "type": f"activity.{self.kinds[event]}",
            "data": {
                "id": event_id,
                "type": self.kinds[event],
                "created_at": timezone.now().isoformat(),
                "email": {"message": {"id": message.provider_id},
                          "recipient": {"email": message.recipient}},
            },
        }).encode()  # fmt: skip
        key = b"not-the-key" if forged else b"mailersend-secret"
        headers = {} if unsigned else {"Signature": hmac.new(key, body, "sha256").hexdigest()}
        return client.post(self.path, body, content_type="application/json", headers=headers)


class Postmark(Esp):
    """Not signed by the ESP: basic auth (ANYMAIL_WEBHOOK_SECRET) only."""

    records = {
        "complained": {"RecordType": "SpamComplaint", "Type": "SpamComplaint"},
        "opened": {"RecordType": "Open"},
        "bounced": {"RecordType": "Bounce", "Type": "HardBounce"},
    }

    def post(self, client, message, event, *, event_id, forged=False, unsigned=False):
        body = {
            **self.records[event],
            "ID": event_id,
            "MessageID": message.provider_id,
            "Metadata": {"message_id": str(message.pk)},
            "Email": message.recipient,
            "Recipient": message.recipient,
            "BouncedAt": timezone.now().isoformat(),
            "ReceivedAt": timezone.now().isoformat(),
        }
        secret = b"hooks:wrong-password" if forged else b"hooks:s3cret-password"
        headers = (
            {} if unsigned else {"Authorization": "Basic " + base64.b64encode(secret).decode()}
        )
        return client.post(
            self.path, json.dumps(body), content_type="application/json", headers=headers
        )


ESPS = [
    Mailgun("mailgun", {"MAILGUN_API_KEY": "key-test", "MAILGUN_WEBHOOK_SIGNING_KEY": "signing"}),
    Mandrill("mandrill", {"MANDRILL_WEBHOOK_KEY": "mkey", "MANDRILL_WEBHOOK_URL": Mandrill.url}),
    MailerSend("mailersend", {"MAILERSEND_SIGNING_SECRET": "mailersend-secret"}),
    Postmark("postmark", {"WEBHOOK_SECRET": "hooks:s3cret-password"}),
]
MAILGUN = ESPS[0]


@pytest.mark.parametrize("esp", ESPS, ids=lambda e: e.name)
@pytest.mark.parametrize("event", EVENTS)
def test_a_forged_or_unsigned_esp_event_is_a_400_that_changes_nothing(
    sent_email, http, settings, esp, event
):
    esp.configure(settings)
    before = state(sent_email)
    forged = esp.post(http, sent_email, event, event_id="ev-1", forged=True)
    unsigned = esp.post(http, sent_email, event, event_id="ev-1", unsigned=True)
    assert (forged.status_code, unsigned.status_code) == (400, 400)
    assert state(sent_email) == before


@pytest.mark.parametrize("esp", ESPS, ids=lambda e: e.name)
@pytest.mark.parametrize("event", EVENTS)
def test_a_replayed_esp_event_is_a_200_that_changes_nothing(sent_email, http, settings, esp, event):
    esp.configure(settings)
    before = state(sent_email)
    assert esp.post(http, sent_email, event, event_id="ev-2").status_code == 200
    after = state(sent_email)
    assert after != before  # the genuine event did something...
    assert esp.post(http, sent_email, event, event_id="ev-2").status_code == 200
    assert state(sent_email) == after  # ...its replay nothing


@pytest.mark.parametrize("esp", ESPS, ids=lambda e: e.name)
def test_with_no_webhook_authentication_every_esp_event_is_refused(sent_email, http, settings, esp):
    """The documented default: an ESP configured, no ANYMAIL_WEBHOOK_SECRET, no signing key."""
    esp.configure(settings)
    settings.ANYMAIL = {}
    before = state(sent_email)
    for event in EVENTS:
        response = esp.post(http, sent_email, event, event_id=f"ev-{event}", unsigned=True)
        assert response.status_code == 403
    assert state(sent_email) == before
    assert http.head(esp.path).status_code == 200  # ESPs check the URL when it is set up
    from messaging.checks import anymail_webhook_check

    [error] = anymail_webhook_check(None)
    assert error.id == "messaging.E001" and esp.name in error.msg


def _all_anymail_paths() -> list[str]:
    from anymail import urls

    return [
        "/m/hooks/anymail/" + str(p.pattern).strip("^$").replace("(_mime)?", "")
        for p in urls.urlpatterns
    ]


@pytest.mark.parametrize("configured", [None, "mailgun", "postmark"])
def test_endpoints_of_esps_that_are_not_configured_are_404s(sent_email, http, settings, configured):
    if configured:
        settings.MESSAGING_EMAIL_BACKEND = f"anymail.backends.{configured}.EmailBackend"
    settings.ANYMAIL = {}
    before = state(sent_email)
    forged_spam = {  # Postmark's shape: accepted by today's code with no secret set
        "RecordType": "SpamComplaint", "Type": "SpamComplaint", "ID": 1,
        "MessageID": sent_email.provider_id, "Metadata": {"message_id": str(sent_email.pk)},
    }  # fmt: skip
    paths = [p for p in _all_anymail_paths() if f"/{configured}/tracking/" not in p]
    assert len(paths) >= 26
    for path in paths:
        response = http.post(path, json.dumps(forged_spam), content_type="application/json")
        assert response.status_code == 404, path
        deep = http.post(path, "[" * 950 + "]" * 950, content_type="application/json")
        assert deep.status_code in (400, 404), path  # a depth limit may answer first
    assert state(sent_email) == before


@pytest.mark.parametrize("depth", [950, 5000])
def test_json_nested_too_deep_is_a_400(sent_email, http, settings, depth):
    MAILGUN.configure(settings)
    # The webhook itself refuses it, whatever middleware may run first.
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "JsonDepth" not in m]
    for body in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        response = http.post(MAILGUN.path, body, content_type="application/json")
        assert response.status_code == 400
    signed = MAILGUN.payload(sent_email, "complained", event_id="deep")
    body = json.dumps(signed)[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
    assert http.post(MAILGUN.path, body, content_type="application/json").status_code == 400
    assert not MessageEvent.objects.exists()


# --- Mailgun: the signature covers a token and a timestamp, not the body ---------------------


def test_a_mailgun_signature_reused_with_another_body_is_refused(sent_email, http, settings):
    MAILGUN.configure(settings)
    # A genuine event we ignore (accepted): nothing recorded under its token...
    genuine = MAILGUN.payload(sent_email, "accepted", event_id="ev-acc")
    assert MAILGUN.send(http, genuine).status_code == 200
    before = state(sent_email)
    # ...so its captured signature must not carry a spam report instead.
    forged = MAILGUN.payload(sent_email, "complained", event_id="ev-spam")
    forged["signature"] = genuine["signature"]
    assert MAILGUN.send(http, forged).status_code == 400
    assert MAILGUN.send(http, genuine).status_code == 200  # the same request again: a no-op
    assert state(sent_email) == before
    from messaging.models import WebhookReceipt

    assert WebhookReceipt.objects.count() == 1


def test_a_mailgun_event_signed_too_long_ago_or_in_the_future_is_refused(
    sent_email, http, settings, clock
):
    MAILGUN.configure(settings)
    settings.MESSAGING_WEBHOOK_MAX_AGE_SECONDS = 3600
    before = state(sent_email)
    for offset, event_id in ((-3601, "old"), (301, "future")):
        timestamp = _now() + offset
        payload = MAILGUN.payload(sent_email, "complained", event_id=event_id, timestamp=timestamp)
        assert MAILGUN.send(http, payload).status_code == 400
    payload = MAILGUN.payload(sent_email, "complained", event_id="x", timestamp="1e9")
    assert MAILGUN.send(http, payload).status_code == 400
    assert state(sent_email) == before
    payload = MAILGUN.payload(sent_email, "complained", event_id="in-time", timestamp=_now() - 3500)
    assert MAILGUN.send(http, payload).status_code == 200  # within the tolerance


def test_mailgun_signing_the_same_event_again_records_it_once(sent_email, http, settings):
    """Mailgun's event id, not the signature token, names the event: a retry Mailgun signs
    afresh changes nothing the second time."""
    MAILGUN.configure(settings)
    first = MAILGUN.payload(sent_email, "complained", event_id="ev-3", token="tok-first")
    assert MAILGUN.send(http, first).status_code == 200
    after = state(sent_email)
    again = MAILGUN.payload(sent_email, "complained", event_id="ev-3", token="tok-again")
    assert MAILGUN.send(http, again).status_code == 200
    assert state(sent_email) == after


def test_an_error_recording_a_mailgun_event_leaves_no_receipt_so_its_retry_is_recorded(
    sent_email, http, settings, monkeypatch
):
    from django.db import OperationalError

    MAILGUN.configure(settings)
    payload = MAILGUN.payload(sent_email, "complained", event_id="ev-4")
    with monkeypatch.context() as patch:
        patch.setattr(services, "event_record", _raiser(OperationalError("the database went")))
        assert MAILGUN.send(http, payload).status_code == 500  # the ESP will retry
    from messaging.models import WebhookReceipt

    assert not WebhookReceipt.objects.exists()
    assert MAILGUN.send(http, payload).status_code == 200
    assert "opted_out_email" in Debtor.objects.get(pk=sent_email.debtor_id).flags


def _raiser(exc):
    def fail(*args, **kwargs):
        raise exc

    return fail


# --- system check -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "anymail", "error"),
    [
        ("", {}, None),
        ("django.core.mail.backends.smtp.EmailBackend", {}, None),
        ("anymail.backends.test.EmailBackend", {}, None),  # no webhooks
        ("anymail.backends.postmark.EmailBackend", {}, "no webhook authentication"),
        ("anymail.backends.postmark.EmailBackend", {"WEBHOOK_SECRET": "a:b"}, None),
        ("anymail.backends.postmark.EmailBackend", {"WEBHOOK_SECRET": "nopassword"}, "user:pass"),
        ("anymail.backends.postmark.EmailBackend", {"WEBHOOK_SECRET": ["a:b", ":"]}, "user:pass"),
        ("anymail.backends.mailgun.EmailBackend", {}, "MAILGUN_WEBHOOK_SIGNING_KEY"),
        ("anymail.backends.mailgun.EmailBackend", {"MAILGUN_WEBHOOK_SIGNING_KEY": ""}, "no webh"),
        ("anymail.backends.mailgun.EmailBackend", {"MAILGUN_WEBHOOK_SIGNING_KEY": "k"}, None),
        ("anymail.backends.sendgrid.EmailBackend", {}, "no webhook authentication"),
        ("anymail.backends.mandrill.EmailBackend", {}, "MANDRILL_WEBHOOK_KEY"),
    ],
)
def test_the_system_check_refuses_an_esp_without_webhook_authentication(
    settings, backend, anymail, error
):
    from messaging.checks import anymail_webhook_check

    settings.MESSAGING_EMAIL_BACKEND = backend
    settings.ANYMAIL = anymail
    errors = anymail_webhook_check(None)
    if error is None:
        assert errors == []
    else:
        [found] = errors
        assert found.id == "messaging.E001" and error in found.msg
        with pytest.raises(SystemCheckError):
            call_command("check")


def test_the_system_check_names_a_missing_package(settings):
    settings.MESSAGING_EMAIL_BACKEND = "anymail.backends.postal.EmailBackend"
    settings.ANYMAIL = {"POSTAL_WEBHOOK_KEY": "MIIBIjAN"}
    from importlib.util import find_spec

    if find_spec("cryptography") is not None:
        pytest.skip("cryptography is installed here")
    from messaging.checks import anymail_webhook_check

    [found] = anymail_webhook_check(None)
    assert "cryptography" in found.msg


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


# --- over real HTTP --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_over_real_http_forged_unsigned_and_replayed_requests_change_nothing(
    committed_baseline, live_server, settings, clock, make_variant, place_one, twilio
):
    """Through a real server: the URL Twilio signs is the one the server is called on, and
    basic auth travels in a real Authorization header."""
    settings.SITE_URL = live_server.url
    message = services.message_send(
        account=place_one(), variant=make_variant("sms"), planned_at=clock.now
    )
    services.dispatch_due()  # (committed at once, it may already have gone after commit)
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    path = reverse("messaging:twilio_inbound")
    url = live_server.url + path

    def post(params, signature=None, **kwargs):
        good = twilio_signature(url, {k: [v] for k, v in params.items()}, "twilio-test-token")
        headers = {"X-Twilio-Signature": signature or good}
        return requests.post(url, data=params, headers=headers, timeout=10, **kwargs)

    stop = {"From": PHONE, "Body": "STOP", "MessageSid": "SMh1"}
    start = {"From": PHONE, "Body": "START", "MessageSid": "SMh2"}
    assert post(stop, signature="Zm9yZ2Vk").status_code == 403
    assert requests.post(url, data=stop, timeout=10).status_code == 403
    assert "opted_out_sms" not in Debtor.objects.get(pk=message.debtor_id).flags
    for params in (stop, start, {**stop, "MessageSid": "SMh3"}):
        assert post(params).status_code == 200
    assert post(start).status_code == 200  # the replay
    assert "opted_out_sms" in Debtor.objects.get(pk=message.debtor_id).flags

    settings.MESSAGING_EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hooks:s3cret-password"}
    hook = live_server.url + "/m/hooks/anymail/postmark/tracking/"
    spam = {"RecordType": "SpamComplaint", "Type": "SpamComplaint", "ID": 9,
            "MessageID": "<x@y>", "Metadata": {"message_id": str(message.pk)}}  # fmt: skip
    assert requests.post(hook, json=spam, timeout=10).status_code == 400
    wrong = requests.post(hook, json=spam, auth=("hooks", "guess"), timeout=10)
    assert wrong.status_code == 400
    other = live_server.url + "/m/hooks/anymail/mailgun/tracking/"
    assert requests.post(other, json=spam, timeout=10).status_code == 404


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
