"""A delivery worker SIGKILLed in the middle of a POST loses nothing, and no other worker
POSTs the same delivery while its claim holds (PostgreSQL, real processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from accounts.tests.factories import place, row
from accounts.webhooks import events
from accounts.webhooks import services as webhooks
from accounts.webhooks.models import DeliveryStatus, WebhookDelivery
from accounts.webhooks.tests.receiver import Receiver

_WORKER = """
import os, django
django.setup()
from datetime import datetime
from django.utils import timezone
if os.environ.get("FAKE_NOW"):
    now = datetime.fromisoformat(os.environ["FAKE_NOW"])
    timezone.now = lambda: now  # the clock is the one thing mocked
from accounts.webhooks.delivery import deliveries_send_due
print(deliveries_send_due().describe(), flush=True)
"""


def _env(**extra: str) -> dict[str, str]:
    db = connection.settings_dict
    return {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DJANGO_SETTINGS_MODULE": "collections_site.settings.base",
        "ENV_FILE": "",
        "SECRET_KEY": "kill-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def _run(**extra: str) -> str:
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", _WORKER], cwd=root, env=_env(**extra), capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_post_loses_nothing(creditor, settings, monkeypatch, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("a second process needs a server database")
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    # No task on commit (as if the queue lost it): the workers below find the delivery.
    monkeypatch.setattr(events, "deliveries_enqueue", lambda ids: None)
    receiver = Receiver(hold_first=True)
    url = receiver.start()
    try:
        webhooks.endpoint_create(creditor=creditor, url=url)
        place(creditor, row(1))
        pending = WebhookDelivery.objects.get()

        root = Path(__file__).resolve().parents[3]
        err = tmp_path / "worker.err"
        with open(err, "wb") as out:
            worker = subprocess.Popen(
                [sys.executable, "-c", _WORKER], cwd=root, env=_env(), stdout=out, stderr=out
            )
        assert receiver.got_first.wait(60), err.read_text()[-3000:]
        assert worker.poll() is None
        os.kill(worker.pid, signal.SIGKILL)  # the receiver has the POST; no answer recorded
        worker.wait()

        claimed = WebhookDelivery.objects.get(pk=pending.pk)
        assert claimed.claim and claimed.attempts == 0
        # While the dead worker's lease holds, no other worker takes the delivery.
        assert _run().startswith("claimed=0 ")
        assert len(receiver.received) == 1
        receiver.release.set()

        after_lease = timezone.now() + timedelta(
            seconds=django_settings.WEBHOOKS_CLAIM_LEASE_SECONDS + 1
        )
        assert _run(FAKE_NOW=after_lease.isoformat()).startswith("claimed=1 succeeded=1")
    finally:
        receiver.stop()
    first, second = receiver.received
    assert first.headers["Collections-Event-Id"] == second.headers["Collections-Event-Id"]
    assert json.loads(first.body)["id"] == first.headers["Collections-Event-Id"]
    done = WebhookDelivery.objects.get(pk=pending.pk)
    assert done.status == DeliveryStatus.SUCCEEDED and done.claim == ""
    assert [a.status_code for a in done.attempt_log.all()] == [200]
