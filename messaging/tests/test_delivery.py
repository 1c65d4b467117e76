"""Delivery: re-checks at hand-off time, exactly-once dispatch across crashes and workers."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, connections

from accounts.models import Activity, ActivityKind
from compliance.models import ContactAttempt
from messaging import services
from messaging.models import Message, MessageStatus
from messaging.tests.backends import Killed, Recorder

pytestmark = pytest.mark.django_db

LEASE = timedelta(seconds=301)


@pytest.fixture
def recording(settings):
    Recorder.reset()
    settings.MESSAGING_SMS_BACKEND = "messaging.tests.backends.RecordingBackend"
    yield Recorder
    Recorder.reset()


def _plan(make_variant, place_one, clock, n, **kwargs):
    variant = make_variant("sms")
    return [
        services.message_send(account=place_one(), variant=variant, planned_at=clock.now, **kwargs)
        for _ in range(n)
    ]


def test_dispatch_hands_each_due_message_over_and_records_it(clock, make_variant, place_one):
    messages = _plan(make_variant, place_one, clock, 3)
    result = services.dispatch_due()
    assert (result.claimed, result.sent) == (3, 3)
    for message in messages:
        message.refresh_from_db()
        assert message.status == MessageStatus.SENT and message.sent_at == clock.now
        assert message.provider == "file" and message.provider_id == f"file-{message.pk}"
        # The hand-off counts in the compliance ledger (caps), idempotent by reference.
        ledger = ContactAttempt.objects.get(reference=f"message:{message.pk}")
        assert (ledger.channel, ledger.outcome) == ("sms", "delivered")
    assert Activity.objects.filter(kind=ActivityKind.MESSAGE_SENT).count() == 3
    assert services.dispatch_due().claimed == 0  # running it again sends nothing


def test_compliance_closing_between_plan_and_delivery_reschedules(clock, make_variant, place_one):
    variant = make_variant("sms")
    evening = clock.now.replace(hour=0, minute=50)  # 20:50 in Massachusetts: still open
    message = services.message_send(account=place_one(), variant=variant, planned_at=evening)
    assert message.status == MessageStatus.PLANNED
    clock.set(evening + timedelta(minutes=25))  # the worker gets to it at 21:15: closed
    result = services.dispatch_due()
    assert (result.rescheduled, result.sent) == (1, 0)
    message.refresh_from_db()
    local = message.due_at.astimezone(ZoneInfo("America/New_York"))
    assert message.status == MessageStatus.PLANNED
    assert (local.day, local.hour, local.minute) == (10, 8, 0)  # next morning at 08:00
    moved = Activity.objects.get(kind=ActivityKind.MESSAGE_RESCHEDULED)
    assert moved.data["reasons"] and moved.data["decision_id"]
    assert "outside the allowed hours" in moved.summary
    clock.set(message.due_at)
    assert services.dispatch_due().sent == 1


def test_a_message_compliance_would_delay_too_long_is_cancelled(
    clock, make_variant, place_one, settings
):
    settings.MESSAGING_MAX_DELAY_HOURS = 6
    variant = make_variant("sms")
    evening = clock.now.replace(hour=0, minute=50)  # 20:50 in Massachusetts
    message = services.message_send(account=place_one(), variant=variant, planned_at=evening)
    clock.set(evening + timedelta(minutes=25))  # closed until 08:00: 11 hours away
    assert services.dispatch_due().cancelled == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.CANCELLED
    assert "more than 6 hours after the planned one" in message.status_reason


def test_an_opt_out_between_plan_and_delivery_cancels_with_the_reason(
    clock, make_variant, place_one
):
    (message,) = _plan(make_variant, place_one, clock, 1)
    services.debtor_opt_out(debtor=message.debtor, channel="sms", source="test")
    assert services.dispatch_due().cancelled == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.CANCELLED
    assert "opted out" in message.status_reason
    assert Activity.objects.filter(kind=ActivityKind.MESSAGE_CANCELLED).exists()


def test_a_withdrawn_variant_cancels_its_pending_messages(clock, make_variant, place_one):
    (message,) = _plan(make_variant, place_one, clock, 1)
    message.variant.unpublish()
    assert services.dispatch_due().cancelled == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.CANCELLED and "withdrawn" in message.status_reason


def test_a_long_run_takes_back_a_dead_dispatchers_claims_once_their_lease_runs_out(
    clock, make_variant, place_one, recording, monkeypatch
):
    """A run still draining its backlog when another dispatcher's lease expires hands that
    dispatcher's messages over too, without waiting for a run to start after the backlog."""
    from messaging.services import delivery

    messages = _plan(make_variant, place_one, clock, 4)
    dead = messages[0]
    Message.objects.filter(pk=dead.pk).update(  # claimed by a dispatcher that then died
        status=MessageStatus.QUEUED, claim="dead", claimed_until=clock.now + timedelta(minutes=1)
    )
    claim = delivery.claim_due

    def claim_then_a_long_batch(*, at, limit):
        claimed = claim(at=at, limit=limit)
        clock.set(clock.now + LEASE)  # each batch takes longer than the lease
        return claimed

    monkeypatch.setattr(delivery, "claim_due", claim_then_a_long_batch)
    result = services.dispatch_due(batch_size=1)
    assert (result.released, result.sent) == (1, 4)
    assert Counter(recording.handed) == Counter({m.pk: 1 for m in messages})
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}


@pytest.mark.parametrize("die_before_handoff", [False, True])
def test_killing_dispatch_half_way_then_rerunning_sends_each_message_exactly_once(
    clock, make_variant, place_one, recording, die_before_handoff
):
    messages = _plan(make_variant, place_one, clock, 6)
    recording.die_at = 3
    recording.die_before_handoff = die_before_handoff
    with pytest.raises(Killed):
        services.dispatch_due()
    states = sorted(Message.objects.values_list("status", flat=True))
    assert "queued" in states  # the dead worker's claim is still held
    assert services.dispatch_due().sent == 0  # another worker must wait for the lease

    clock.set(clock.now + LEASE)
    services.dispatch_due()
    assert sorted(recording.handed) == sorted(m.pk for m in messages)  # each exactly once
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    assert ContactAttempt.objects.filter(reference__startswith="message:").count() == 6


def test_an_unconfirmable_interrupted_hand_off_is_failed_never_repeated(
    clock, make_variant, place_one, recording
):
    messages = _plan(make_variant, place_one, clock, 4)
    recording.die_at = 2
    recording.can_reconcile = False  # like SMTP: the server cannot be asked
    with pytest.raises(Killed):
        services.dispatch_due()
    clock.set(clock.now + LEASE)
    services.dispatch_due()
    assert sorted(recording.handed) == sorted(m.pk for m in messages)  # nobody got two
    failed = Message.objects.get(status=MessageStatus.FAILED)
    assert failed.pk == recording.handed[1]
    assert failed.status_reason.startswith("handoff_unconfirmed")
    assert Message.objects.filter(status=MessageStatus.SENT).count() == 3


def test_an_unconfirmed_hand_off_counts_as_a_contact_until_the_provider_says_otherwise(
    clock, make_variant, place_one, recording
):
    """It may have gone out: the caps count it from its hand-off; a later provider event
    updates that one ledger entry, never adds a second."""
    _plan(make_variant, place_one, clock, 2)
    recording.die_at = 1
    recording.can_reconcile = False
    with pytest.raises(Killed):
        services.dispatch_due()
    handed_at = Message.objects.get(pk=recording.handed[0]).handoff_at
    clock.set(clock.now + LEASE)
    services.dispatch_due()
    failed = Message.objects.get(status=MessageStatus.FAILED)
    assert failed.pk == recording.handed[0] and failed.status_reason.startswith(
        "handoff_unconfirmed"
    )
    reference = f"message:{failed.pk}"
    ledger = ContactAttempt.objects.get(reference=reference)
    assert (ledger.outcome, ledger.at) == ("delivered", handed_at)
    assert ledger.debtor_id == failed.debtor_id

    for key, kind, outcome in (("tw:1", "delivered", "delivered"), ("tw:2", "failed", "failed"),
                               ("tw:3", "delivered", "delivered")):  # fmt: skip
        services.event_record(message=failed, kind=kind, event_key=key, source="twilio")
        assert list(
            ContactAttempt.objects.filter(debtor_id=failed.debtor_id).values_list(
                "reference", "outcome", "at"
            )
        ) == [(reference, outcome, handed_at)]
    assert Message.objects.get(pk=failed.pk).status == MessageStatus.FAILED


def test_killing_the_idempotent_file_backend_half_way_loses_nothing(
    clock, make_variant, place_one, settings
):
    settings.MESSAGING_SMS_BACKEND = "messaging.tests.backends.DyingFileBackend"
    Recorder.reset()
    messages = _plan(make_variant, place_one, clock, 5)
    Recorder.die_at = 3
    with pytest.raises(Killed):
        services.dispatch_due()
    clock.set(clock.now + LEASE)
    services.dispatch_due()
    outbox = settings.MESSAGING_OUTBOX_DIR / "sms"
    assert all((outbox / f"{m.pk}.json").exists() for m in messages)
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    assert Activity.objects.filter(kind=ActivityKind.MESSAGE_SENT).count() == 5
    Recorder.reset()


def test_a_temporary_backend_error_retries_later_and_a_permanent_one_fails(
    clock, make_variant, place_one, twilio
):
    (message,) = _plan(make_variant, place_one, clock, 1)
    twilio.fail_with = (503, {"code": 20500, "message": "Internal error"})
    assert services.dispatch_due().retried == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.PLANNED and message.attempts == 1
    assert message.due_at == clock.now + timedelta(seconds=60)
    clock.set(message.due_at)
    twilio.fail_with = (400, {"code": 21211, "message": "Invalid 'To' Phone Number"})
    assert services.dispatch_due().failed == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and "21211" in message.status_reason
    assert Activity.objects.filter(kind=ActivityKind.MESSAGE_FAILED).count() == 1


def test_one_debtor_gets_one_message_per_batch_so_caps_see_the_first(
    clock, make_variant, place_one
):
    variant = make_variant("sms")
    first = place_one()
    second = place_one(debtor={"external_ref": first.debtor.external_ref})  # same debtor
    assert first.debtor_id == second.debtor_id
    for account in (first, second):
        services.message_send(account=account, variant=variant, planned_at=clock.now)
    result = services.dispatch_due()
    assert result.claimed == 2 and result.sent == 2  # in two batches, one after the other
    assert ContactAttempt.objects.filter(debtor=first.debtor).count() == 2


def _planned_an_hour_ahead_then_due(n, clock, make_variant, place_one) -> list[Message]:
    """`n` SMS messages planned an hour ahead (committing enqueues nothing), then the clock
    moved to that hour: all due, none claimed yet."""
    later = clock.now + timedelta(hours=1)
    variant = make_variant("sms")
    messages = [
        services.message_send(account=place_one(), variant=variant, planned_at=later)
        for _ in range(n)
    ]
    assert set(Message.objects.values_list("status", flat=True)) == {"planned"}
    clock.set(later)
    return messages


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_never_send_the_same_message(
    committed_baseline, clock, make_variant, place_one, recording
):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL")
    messages = _planned_an_hour_ahead_then_due(40, clock, make_variant, place_one)
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            services.dispatch_due(batch_size=5)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(recording.handed) == sorted(m.pk for m in messages)
    assert Message.objects.filter(status=MessageStatus.SENT).count() == 40


_DISPATCH = """
import os, django
django.setup()
from datetime import datetime
from django.utils import timezone
now = datetime.fromisoformat(os.environ["FAKE_NOW"])
timezone.now = lambda: now  # the clock is the one thing mocked
from messaging.services import dispatch_due
print(dispatch_due(batch_size=5).sent)
"""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_kill_9_during_dispatch_then_rerun_hands_each_message_over_once(
    committed_baseline, clock, make_variant, place_one, tmp_path
):
    """A real worker process is SIGKILLed mid-dispatch; a second one finishes the job."""
    if connection.vendor != "postgresql":
        pytest.skip("a second process needs a server database")
    messages = _planned_an_hour_ahead_then_due(24, clock, make_variant, place_one)
    db = connection.settings_dict
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE"}},
        "DJANGO_SETTINGS_MODULE": "collections_site.settings.base",
        "SECRET_KEY": "kill-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "MESSAGING_SMS_BACKEND": "messaging.tests.backends.SlowLogBackend",
        "MESSAGING_OUTBOX_DIR": str(tmp_path),
        "SLOW_BACKEND_SECONDS": "0.05",
        "LOG_LEVEL": "WARNING",
        "FAKE_NOW": clock.now.isoformat(),
    }
    log = tmp_path / "handoffs.log"
    root = Path(__file__).resolve().parents[2]
    errors = tmp_path / "worker.err"
    with open(errors, "wb") as err:
        worker = subprocess.Popen(
            [sys.executable, "-c", _DISPATCH], cwd=root, env=env, stdout=err, stderr=err
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and worker.poll() is None:
        if log.exists() and len(log.read_text().split()) >= 8:
            break
        time.sleep(0.01)
    assert worker.poll() is None, errors.read_text()[-3000:]
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    handed_first = len(log.read_text().split())
    assert 8 <= handed_first < 24
    assert Message.objects.filter(status=MessageStatus.QUEUED).exists()

    env["FAKE_NOW"] = (clock.now + LEASE).isoformat()  # after the dead worker's lease
    rerun = subprocess.run(
        [sys.executable, "-c", _DISPATCH], cwd=root, env=env, capture_output=True, timeout=120
    )
    assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    handed = Counter(int(line) for line in log.read_text().split())
    assert handed == Counter({m.pk: 1 for m in messages})  # every message exactly once
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
