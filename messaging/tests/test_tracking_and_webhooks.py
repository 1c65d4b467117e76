"""Tracking tokens (no open redirect) and provider webhooks (signatures, replays, STOP)."""

import hashlib
import hmac
import json
import time

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Activity, ActivityKind
from compliance.models import ContactAttempt
from messaging import services, tracking
from messaging.models import EventKind, Message, MessageEvent, MessageStatus
from messaging.webhooks import twilio_signature

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent_sms(clock, make_variant, place_one, twilio):
    variant = make_variant("sms")
    message = services.message_send(account=place_one(), variant=variant, planned_at=clock.now)
    assert services.dispatch_due().sent == 1
    message.refresh_from_db()
    return message


# --- tracking tokens -------------------------------------------------------------------------


def test_a_forged_or_altered_click_token_is_a_404_never_a_redirect(sent_sms, client):
    good = tracking.click_token(message_id=sent_sms.pk, index=0)
    assert client.get(reverse("messaging:click", args=[good])).status_code == 302
    payload, signature = good.split(":")
    forged = [
        f"{payload[:-1]}1:{signature}",  # another link index, same signature
        f"{payload}:{signature[:-1]}A",  # altered signature
        f"{payload}.https://evil.example:{signature}",
        "1.0:AAAAAAAAAAAAAAAA",
        "https://evil.example",
    ]
    for token in forged:
        response = client.get(f"/m/c/{token}")
        assert response.status_code == 404, token
    # A valid token for a link the message does not have is a 404 too.
    beyond = tracking.click_token(message_id=sent_sms.pk, index=len(sent_sms.links))
    assert client.get(reverse("messaging:click", args=[beyond])).status_code == 404


def test_click_redirects_only_to_the_messages_own_link(sent_sms, client):
    response = client.get(tracking.click_url(message_id=sent_sms.pk, index=0).split("8000")[1])
    assert response["Location"] == sent_sms.links[0]
    assert response["Location"].startswith("http://localhost:8000/p/")


def test_the_sms_carries_tracked_links_and_the_opt_out_text(sent_sms, twilio):
    body = twilio.requests[0]["form"]["Body"]
    assert "http://localhost:8000/m/c/" in body and "/p/" not in body
    assert body.endswith("Reply STOP to stop text messages about this debt.")


def test_open_pixel_tokens_are_signed(sent_sms, client):
    good = tracking.open_token(message_id=sent_sms.pk)
    assert client.get(reverse("messaging:open", args=[good])).status_code == 200
    other = tracking.click_token(message_id=sent_sms.pk, index=0)  # another purpose's token
    assert client.get(reverse("messaging:open", args=[other])).status_code == 404
    assert client.get(reverse("messaging:unsubscribe", args=[other])).status_code == 404


# --- Twilio ----------------------------------------------------------------------------------


def _twilio_post(client, settings, path, params, *, signature=None, query=""):
    url = f"{settings.SITE_URL}{path}{query}"
    sig = signature or twilio_signature(url, {k: [v] for k, v in params.items()},
                                        settings.TWILIO_AUTH_TOKEN)  # fmt: skip
    return client.post(path + query, params, HTTP_X_TWILIO_SIGNATURE=sig)


def test_twilio_backend_posts_the_message_with_auth_and_a_status_callback(sent_sms, twilio):
    request = twilio.requests[0]
    assert request["path"].endswith("/Accounts/AC" + "1" * 32 + "/Messages.json")
    assert request["auth"].startswith("Basic ")
    assert request["form"]["To"] == "+16175550123"
    assert request["form"]["From"] == "+15005550006"
    assert request["form"]["StatusCallback"].endswith(f"/m/hooks/twilio/status/?m={sent_sms.pk}")
    assert sent_sms.provider == "twilio" and sent_sms.provider_id == "SM" + "0" * 32


def test_twilio_status_callback_valid_invalid_and_replayed(sent_sms, client, settings):
    path = reverse("messaging:twilio_status")
    query = f"?m={sent_sms.pk}"
    params = {"MessageSid": sent_sms.provider_id, "MessageStatus": "delivered"}
    bad = _twilio_post(client, settings, path, params, query=query, signature="bm9wZQ==")
    assert bad.status_code == 403
    tampered = _twilio_post(
        client, settings, path, params, query=f"?m={sent_sms.pk + 1}",
        signature=twilio_signature(f"{settings.SITE_URL}{path}{query}",
                                   {k: [v] for k, v in params.items()},
                                   settings.TWILIO_AUTH_TOKEN),
    )  # fmt: skip
    assert tampered.status_code == 403  # the signature covers the URL and its query
    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.SENT

    assert _twilio_post(client, settings, path, params, query=query).status_code == 204
    assert _twilio_post(client, settings, path, params, query=query).status_code == 204  # replay
    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.DELIVERED and sent_sms.delivered_at is not None
    assert MessageEvent.objects.filter(message=sent_sms, kind=EventKind.DELIVERED).count() == 1
    assert Activity.objects.filter(kind=ActivityKind.MESSAGE_DELIVERED).count() == 1


def test_twilio_undelivered_fails_the_message_and_uncounts_the_contact(sent_sms, client, settings):
    path = reverse("messaging:twilio_status")
    params = {"MessageSid": sent_sms.provider_id, "MessageStatus": "undelivered",
              "ErrorCode": "30003"}  # fmt: skip
    assert (
        _twilio_post(client, settings, path, params, query=f"?m={sent_sms.pk}").status_code == 204
    )
    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.FAILED and "30003" in sent_sms.status_reason
    assert ContactAttempt.objects.get(reference=f"message:{sent_sms.pk}").outcome == "failed"


@pytest.mark.parametrize(
    "body", ["STOP", "stop", " Stop. ", "STOPALL", "stop all", "Unsubscribe", "CANCEL", "end",
             "QUIT", "ARRET", "Arrêt", "arrêt !", "STOPP", "Stopp bitte", "Stop texting me"]
)  # fmt: skip
def test_inbound_stop_and_its_variants_opt_the_debtor_out_of_sms(sent_sms, client, settings, body):
    path = reverse("messaging:twilio_inbound")
    params = {"From": "+16175550123", "Body": body, "MessageSid": "SMin1"}
    response = _twilio_post(client, settings, path, params)
    assert response.status_code == 200 and b"<Response>" in response.content
    sent_sms.debtor.refresh_from_db()
    assert "opted_out_sms" in sent_sms.debtor.flags
    opted = Activity.objects.get(kind=ActivityKind.OPTED_OUT)
    assert opted.data["channel"] == "sms" and opted.debtor_id == sent_sms.debtor_id


@pytest.mark.parametrize("body", ["I will pay on Friday", "End of month is better", "Stopover"])
def test_an_ordinary_reply_is_recorded_not_an_opt_out(sent_sms, client, settings, body):
    path = reverse("messaging:twilio_inbound")
    params = {"From": "+16175550123", "Body": body, "MessageSid": "SMin2"}
    assert _twilio_post(client, settings, path, params).status_code == 200
    assert _twilio_post(client, settings, path, params).status_code == 200  # replayed
    sent_sms.debtor.refresh_from_db()
    assert "opted_out_sms" not in sent_sms.debtor.flags
    assert MessageEvent.objects.filter(message=sent_sms, kind=EventKind.REPLIED).count() == 1


def test_inbound_with_a_bad_signature_changes_nothing(sent_sms, client, settings):
    path = reverse("messaging:twilio_inbound")
    params = {"From": "+16175550123", "Body": "STOP", "MessageSid": "SMin3"}
    assert _twilio_post(client, settings, path, params, signature="x").status_code == 403
    sent_sms.debtor.refresh_from_db()
    assert "opted_out_sms" not in sent_sms.debtor.flags


def test_start_opts_back_in(sent_sms, client, settings):
    path = reverse("messaging:twilio_inbound")
    for body, sid in (("STOP", "a"), ("START", "b")):
        _twilio_post(client, settings, path, {"From": "+16175550123", "Body": body,
                                              "MessageSid": sid})  # fmt: skip
    sent_sms.debtor.refresh_from_db()
    assert "opted_out_sms" not in sent_sms.debtor.flags
    assert Activity.objects.filter(kind=ActivityKind.PREFERENCE_CHANGE).count() == 1


# --- anymail (Mailgun) -----------------------------------------------------------------------


@pytest.fixture
def sent_email(clock, make_variant, place_one, settings):
    settings.ANYMAIL = {"MAILGUN_API_KEY": "key-test", "MAILGUN_WEBHOOK_SIGNING_KEY": "signing"}
    variant = make_variant("email")
    message = services.message_send(account=place_one(), variant=variant, planned_at=clock.now)
    assert services.dispatch_due().sent == 1
    # Sent through locmem above; from now on Mailgun is the configured ESP, whose webhook is
    # the only one served.
    settings.MESSAGING_EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    message.refresh_from_db()
    return message


def _mailgun(message, event, *, event_id, key="signing"):
    timestamp, token = str(int(timezone.now().timestamp())), f"tok-{event_id}"
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": {
            "event": event,
            "id": event_id,
            "timestamp": time.time(),
            "recipient": message.recipient,
            "message": {"headers": {"message-id": message.provider_id.strip("<>")}},
            "user-variables": {"message_id": str(message.pk)},
            "severity": "permanent",
            "reason": "bounce",
        },
    }


def _post_mailgun(client, payload):
    return client.post(
        "/m/hooks/anymail/mailgun/tracking/", json.dumps(payload), content_type="application/json"
    )


def test_mailgun_webhook_valid_invalid_and_replayed_signatures(sent_email, client):
    forged = _mailgun(sent_email, "delivered", event_id="ev-1", key="not-the-key")
    assert _post_mailgun(client, forged).status_code == 400
    sent_email.refresh_from_db()
    assert sent_email.status == MessageStatus.SENT

    payload = _mailgun(sent_email, "delivered", event_id="ev-1")
    assert _post_mailgun(client, payload).status_code == 200
    assert _post_mailgun(client, payload).status_code == 200  # replayed: no second event
    sent_email.refresh_from_db()
    assert sent_email.status == MessageStatus.DELIVERED
    assert MessageEvent.objects.filter(message=sent_email).count() == 1


def _signed_only():
    timestamp, token = str(int(timezone.now().timestamp())), "tok-malformed"
    signature = hmac.new(b"signing", f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": signature}


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        '"text"',
        json.dumps({"signature": "x"}),
        "signed: no event-data",
        "signed: event-data a string",
        "signed: event-data empty",
        "signed: timestamp not a number",
    ],
)
def test_a_malformed_mailgun_body_is_a_400_and_changes_nothing(sent_email, client, body):
    signed = {
        "signed: no event-data": {},
        "signed: event-data a string": {"event-data": "x"},
        "signed: event-data empty": {"event-data": {}},
        "signed: timestamp not a number": {
            "event-data": {"event": "delivered", "timestamp": "abc", "id": "e"}
        },
    }
    if body in signed:
        body = json.dumps({"signature": _signed_only(), **signed[body]})
    client.raise_request_exception = False
    response = client.post(
        "/m/hooks/anymail/mailgun/tracking/", body, content_type="application/json"
    )
    assert response.status_code == 400
    sent_email.refresh_from_db()
    assert sent_email.status == MessageStatus.SENT
    assert not MessageEvent.objects.exists()


def test_an_error_recording_a_good_event_stays_a_500_so_the_provider_retries(
    sent_email, client, monkeypatch
):
    from django.db import OperationalError

    from messaging import services as messaging_services

    def outage(**kwargs):
        raise OperationalError("the database went away")

    monkeypatch.setattr(messaging_services, "event_record", outage)
    client.raise_request_exception = False
    payload = _mailgun(sent_email, "delivered", event_id="ev-outage")
    assert _post_mailgun(client, payload).status_code == 500


def test_mailgun_bounce_and_complaint(sent_email, client):
    assert _post_mailgun(client, _mailgun(sent_email, "failed", event_id="ev-b")).status_code == 200
    sent_email.refresh_from_db()
    assert sent_email.status == MessageStatus.FAILED
    assert Activity.objects.filter(kind=ActivityKind.MESSAGE_BOUNCED).count() == 1
    assert (
        _post_mailgun(client, _mailgun(sent_email, "complained", event_id="ev-c")).status_code
        == 200
    )
    sent_email.debtor.refresh_from_db()
    assert "opted_out_email" in sent_email.debtor.flags
    assert Message.objects.get(pk=sent_email.pk).events.count() == 2


@pytest.mark.parametrize("ref", ["²", "1e3", "-1", "9" * 30])
def test_a_status_callback_naming_no_plain_message_id_records_nothing(
    sent_sms, client, settings, ref
):
    path = reverse("messaging:twilio_status")
    params = {"MessageSid": sent_sms.provider_id, "MessageStatus": "delivered"}
    query = f"?m={ref}"
    # Twilio signs the URL it called, which Django sees percent-encoded.
    url = f"{settings.SITE_URL}{client.post(path + query).wsgi_request.get_full_path()}"
    signature = twilio_signature(url, {k: [v] for k, v in params.items()},
                                 settings.TWILIO_AUTH_TOKEN)  # fmt: skip
    response = _twilio_post(client, settings, path, params, query=query, signature=signature)
    assert response.status_code == 204
    assert not MessageEvent.objects.exists()


@pytest.mark.parametrize("ref", ["²", "1e3", ["x"], None])
def test_mailgun_event_with_an_odd_message_id_falls_back_to_the_provider_id(
    sent_email, client, ref
):
    payload = _mailgun(sent_email, "delivered", event_id="ev-odd")
    payload["event-data"]["user-variables"] = {"message_id": ref}
    assert _post_mailgun(client, payload).status_code == 200
    sent_email.refresh_from_db()
    assert sent_email.status == MessageStatus.DELIVERED  # found by its Message-ID instead


def test_mailgun_event_with_metadata_that_is_not_a_mapping_is_not_a_500(sent_email, client):
    payload = _mailgun(sent_email, "delivered", event_id="ev-list")
    payload["event-data"]["user-variables"] = ["x"]
    assert _post_mailgun(client, payload).status_code == 200
    sent_email.refresh_from_db()
    assert sent_email.status == MessageStatus.DELIVERED
