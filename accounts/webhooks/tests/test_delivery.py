"""Deliveries to a real HTTP receiver on localhost: signed, verified with the code printed in
docs/webhooks.md (Python and Node), retried, given up, re-sent."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from accounts import services
from accounts.models import CreditorUser
from accounts.tests.factories import UserFactory, place, row
from accounts.webhooks import delivery
from accounts.webhooks import services as webhooks
from accounts.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEvent
from accounts.webhooks.tests.receiver import Receiver, documented, documented_verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def private_ok(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True


@pytest.fixture
def receiver(private_ok):
    made: list[Receiver] = []

    def start(**kwargs) -> tuple[Receiver, str]:
        r = Receiver(**kwargs)
        made.append(r)
        return r, r.start()

    yield start
    for r in made:
        r.stop()


def _pay(account, amount="10.00", key="k1"):
    return services.payment_record(
        account=account, amount=Decimal(amount), idempotency_key=key, method="card", actor="t"
    )[0]


def test_events_reach_the_receiver_signed_and_pass_the_documented_check(creditor, receiver):
    r, url = receiver()
    endpoint = webhooks.endpoint_create(creditor=creditor, url=url)
    (account,) = place(creditor, row(1))
    _pay(account)
    result = delivery.deliveries_send_due()
    assert result.succeeded == 2 and result.retrying == 0
    verify = documented_verify()
    types = []
    for got in r.received:
        assert got.path == "/hooks?x=1"
        assert verify(endpoint.secret, got.headers["Collections-Signature"], got.body)
        event = json.loads(got.body)
        assert got.headers["Collections-Event-Id"] == event["id"]
        assert event["object"] == "event" and event["api_version"] == "v1"
        types.append(event["type"])
    assert types == ["account.placed", "payment.succeeded"]
    payment = json.loads(r.received[1].body)["data"]["object"]
    assert payment["amount"] == "10.00" and payment["account"] == "ACC-1"
    done = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert {d.status for d in done} == {DeliveryStatus.SUCCEEDED}
    attempt = done[0].attempt_log.get()
    assert attempt.status_code == 200 and attempt.succeeded and attempt.latency_ms is not None
    assert len(attempt.response_body) == 1024  # the answer is 3,000 bytes: 1 KiB kept


def test_a_tampered_delivery_fails_the_documented_check(creditor, receiver):
    r, url = receiver()
    endpoint = webhooks.endpoint_create(creditor=creditor, url=url)
    place(creditor, row(1))
    delivery.deliveries_send_due()
    (got,) = r.received
    verify, header, body = documented_verify(), got.headers["Collections-Signature"], got.body
    assert verify(endpoint.secret, header, body)
    assert not verify(endpoint.secret, header, body.replace(b"ACC-1", b"ACC-2"))
    assert not verify(endpoint.secret, header.replace("v1=", "v1=0"), body)
    assert not verify("whsec_wrong", header, body)
    t = header.split(",")[0][2:]
    old = str(int(t) - 301)
    assert not verify(endpoint.secret, header.replace(f"t={t}", f"t={old}"), body)


def test_the_documented_node_check_accepts_a_delivery_and_refuses_a_tampered_one(
    creditor, receiver, tmp_path
):
    r, url = receiver()
    endpoint = webhooks.endpoint_create(creditor=creditor, url=url)
    place(creditor, row(1))
    delivery.deliveries_send_due()
    (got,) = r.received
    (tmp_path / "body").write_bytes(got.body)
    script = documented("javascript") + (
        "\nconst fs = require('node:fs');\n"
        "const body = fs.readFileSync(process.argv[2]);\n"
        "const [secret, header] = [process.argv[3], process.argv[4]];\n"
        "const bad = Buffer.concat([body, Buffer.from(' ')]);\n"
        "console.log(JSON.stringify([verify(secret, header, body), verify(secret, header, bad),"
        " verify('whsec_x', header, body)]));\n"
    )
    (tmp_path / "verify.js").write_text(script)
    out = subprocess.run(
        ["node", str(tmp_path / "verify.js"), str(tmp_path / "body"), endpoint.secret,
         got.headers["Collections-Signature"]],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert json.loads(out.stdout) == [True, False, False]


def test_a_receiver_answering_500_then_200_gets_the_event_twice_with_the_same_id(
    creditor, receiver
):
    r, url = receiver(statuses=[500, 200])
    endpoint = webhooks.endpoint_create(creditor=creditor, url=url, event_types=["account.placed"])
    place(creditor, row(1))
    before = timezone.now()
    assert delivery.deliveries_send_due().retrying == 1
    pending = WebhookDelivery.objects.get(endpoint=endpoint)
    assert pending.status == DeliveryStatus.PENDING and pending.attempts == 1
    # The first retry after a minute, jittered within 20%.
    wait = (pending.next_attempt_at - before).total_seconds()
    assert 47 <= wait <= 73, wait
    assert delivery.deliveries_send_due().claimed == 0  # not due yet
    assert delivery.deliveries_send_due(now=pending.next_attempt_at).succeeded == 1
    first, second = r.received
    assert first.headers["Collections-Event-Id"] == second.headers["Collections-Event-Id"]
    assert first.body == second.body
    log = list(WebhookDelivery.objects.get(pk=pending.pk).attempt_log.all())
    assert [(a.number, a.status_code, a.succeeded) for a in log] == [
        (1, 500, False),
        (2, 200, True),
    ]
    assert log[0].response_body == "broken"


def test_the_retry_delays_double_with_jitter_up_to_six_hours():
    import random

    rng = random.Random(7)
    for attempts, base in [(1, 60), (2, 120), (3, 240), (9, 15360), (10, 21600), (30, 21600)]:
        delay = delivery.retry_delay(attempts, rng=rng).total_seconds()
        assert base * 0.8 <= delay <= base * 1.2


def test_after_three_days_the_endpoint_is_disabled_and_the_creditor_told(creditor, receiver):
    r, url = receiver(statuses=[503])
    user = UserFactory(email="ops@acme.example")
    CreditorUser.objects.create(user=user, creditor=creditor)
    endpoint = webhooks.endpoint_create(creditor=creditor, url=url)
    place(creditor, row(1), row(2))
    WebhookEvent.objects.update(created_at=timezone.now() - timedelta(days=3, minutes=1))
    with_callbacks = delivery.deliveries_send_due(max_batches=1)
    assert with_callbacks.failed >= 1
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_at is not None
    assert "could not be delivered for 3 days" in endpoint.disabled_reason
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"failed"}
    assert len(r.received) == 1  # the other delivery ended with the endpoint


def test_the_creditor_is_emailed_when_an_endpoint_is_disabled(
    creditor, receiver, django_capture_on_commit_callbacks
):
    _r, url = receiver(statuses=[500])
    CreditorUser.objects.create(user=UserFactory(email="ops@acme.example"), creditor=creditor)
    endpoint = webhooks.endpoint_create(creditor=creditor, url=url)
    place(creditor, row(1))
    WebhookEvent.objects.update(created_at=timezone.now() - timedelta(days=4))
    with django_capture_on_commit_callbacks(execute=True):
        delivery.deliveries_send_due()
    (message,) = mail.outbox
    assert message.to == ["ops@acme.example"]
    assert url in message.body and str(endpoint.pk) in message.body


def test_a_redirect_is_not_followed_and_counts_as_a_failure(creditor, receiver):
    r, url = receiver(statuses=[302])
    webhooks.endpoint_create(creditor=creditor, url=url)
    place(creditor, row(1))
    assert delivery.deliveries_send_due().retrying == 1
    assert len(r.received) == 1


def test_after_a_roll_deliveries_carry_both_signatures_for_a_day(creditor, receiver):
    r, url = receiver()
    endpoint = webhooks.endpoint_create(creditor=creditor, url=url)
    old = endpoint.secret
    rolled = webhooks.secret_roll(endpoint)
    assert rolled.secret != old
    place(creditor, row(1))
    delivery.deliveries_send_due()
    header = r.received[0].headers["Collections-Signature"]
    assert header.count("v1=") == 2
    verify = documented_verify()
    assert verify(old, header, r.received[0].body)
    assert verify(rolled.secret, header, r.received[0].body)
    later = timezone.now() + timedelta(hours=24, seconds=1)
    assert rolled.signing_secrets(later) == [rolled.secret]


def test_a_manual_resend_posts_a_delivered_event_once_more(creditor, receiver):
    r, url = receiver()
    endpoint = webhooks.endpoint_create(creditor=creditor, url=url)
    place(creditor, row(1))
    delivery.deliveries_send_due()
    done = WebhookDelivery.objects.get(endpoint=endpoint)
    webhooks.delivery_resend(done)
    assert delivery.deliveries_send_due().succeeded == 1
    done.refresh_from_db()
    assert done.status == DeliveryStatus.SUCCEEDED and done.attempts == 2
    assert [a.manual for a in done.attempt_log.all()] == [False, True]
    assert len(r.received) == 2


def test_deliveries_are_sent_as_soon_as_the_change_commits(
    creditor, receiver, django_capture_on_commit_callbacks
):
    r, url = receiver()
    webhooks.endpoint_create(creditor=creditor, url=url, event_types=["payment.succeeded"])
    (account,) = place(creditor, row(1))
    with django_capture_on_commit_callbacks(execute=True):
        _pay(account)
    # Tests run django-q2 synchronously: the task enqueued on commit has run.
    deadline = time.monotonic() + 5
    while not r.received and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [json.loads(g.body)["type"] for g in r.received] == ["payment.succeeded"]


def test_a_disabled_or_unsubscribed_endpoint_gets_no_delivery(creditor, receiver):
    _r, url = receiver()
    webhooks.endpoint_create(creditor=creditor, url=url, enabled=False)
    webhooks.endpoint_create(creditor=creditor, url=url, event_types=["plan.broken"])
    place(creditor, row(1))
    assert WebhookDelivery.objects.count() == 0
    assert WebhookEvent.objects.filter(type="account.placed").count() == 1
