"""Channel backends for tests: they record every hand-off and can "die" at a chosen point.

`Killed` derives from BaseException, like the SystemExit/KeyboardInterrupt of a dying
worker: no `except Exception` in the dispatcher catches it, so the run stops right there.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.conf import settings

from messaging.backends.base import ChannelBackend, HandOff, Outbound
from messaging.backends.email import FileEmailBackend
from messaging.backends.sms import FileSmsBackend


class Killed(BaseException):
    """The worker died."""


class Recorder:
    """Shared state of the recording backend (reset by each test)."""

    handed: list[int] = []
    die_at: int | None = None  # die when this many messages have been handed over...
    die_before_handoff: bool = False  # ...just before handing over the next one instead
    can_reconcile: bool = True

    @classmethod
    def reset(cls) -> None:
        cls.handed = []
        cls.die_at = None
        cls.die_before_handoff = False
        cls.can_reconcile = True


class RecordingBackend(ChannelBackend):
    """Not idempotent (like SMTP or Twilio): each `send` is one more message out."""

    name = "recording"

    def send(self, outbound: Outbound) -> HandOff:
        r = Recorder
        if r.die_before_handoff and r.die_at is not None and len(r.handed) == r.die_at:
            r.die_at = None
            raise Killed
        r.handed.append(outbound.message_id)
        if not r.die_before_handoff and r.die_at is not None and len(r.handed) == r.die_at:
            r.die_at = None
            raise Killed
        return HandOff(provider=self.name, provider_id=f"rec-{outbound.message_id}")

    def reconcile(self, outbound: Outbound) -> HandOff | bool | None:
        if not Recorder.can_reconcile:
            return None
        if outbound.message_id in Recorder.handed:
            return HandOff(provider=self.name, provider_id=f"rec-{outbound.message_id}")
        return False


class DyingFileBackend(FileSmsBackend):
    """The file backend, dying after `Recorder.die_at` files were written."""

    def send(self, outbound: Outbound) -> HandOff:
        handoff = super().send(outbound)
        Recorder.handed.append(outbound.message_id)
        if Recorder.die_at is not None and len(Recorder.handed) == Recorder.die_at:
            Recorder.die_at = None
            raise Killed
        return handoff


class SlowLogBackend(ChannelBackend):
    """For kill -9 tests: a hand-off is one line appended to `<outbox>/handoffs.log` (a single
    O_APPEND write: it happened or it did not), after `SLOW_BACKEND_SECONDS`. Not idempotent,
    so a second hand-off of a message would show as a second line; `reconcile` reads the log
    like a provider's API."""

    name = "log"

    def _log(self) -> Path:
        return Path(settings.MESSAGING_OUTBOX_DIR) / "handoffs.log"

    def send(self, outbound: Outbound) -> HandOff:
        time.sleep(float(os.environ.get("SLOW_BACKEND_SECONDS", "0.05")))
        fd = os.open(self._log(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{outbound.message_id}\n".encode())
        finally:
            os.close(fd)
        return HandOff(provider=self.name, provider_id=f"log-{outbound.message_id}")

    def reconcile(self, outbound: Outbound) -> HandOff | bool:
        lines = self._log().read_text().split() if self._log().exists() else []
        if str(outbound.message_id) in lines:
            return HandOff(provider=self.name, provider_id=f"log-{outbound.message_id}")
        return False


def _handoff_logged(message_id: int) -> None:
    """Append the message id to `<outbox>/handoffs.log` (one O_APPEND write per line)."""
    path = Path(settings.MESSAGING_OUTBOX_DIR) / "handoffs.log"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{message_id}\n".encode())
    finally:
        os.close(fd)


class HandoffLogFileSmsBackend(FileSmsBackend):
    """The SMS/WhatsApp file backend, each `send` also logged (`<outbox>/handoffs.log`).

    The file backends write a message's file once, so a second hand-off of the same message
    leaves no trace in the files; the log shows it (bench/scaleout.py counts both)."""

    def send(self, outbound: Outbound) -> HandOff:
        handoff = super().send(outbound)
        _handoff_logged(outbound.message_id)
        return handoff


class HandoffLogFileEmailBackend(FileEmailBackend):
    """The e-mail file backend, each `send` also logged, like `HandoffLogFileSmsBackend`."""

    def send(self, outbound: Outbound) -> HandOff:
        handoff = super().send(outbound)
        _handoff_logged(outbound.message_id)
        return handoff
