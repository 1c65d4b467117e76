"""The demo history's run: the guard, the progress row, and running days in chunks.

`advance()` runs the next simulated days (one `day.day_run` each) until a time budget is
spent, recording each completed day in the `DemoHistory` row, so a worker killed half-way
loses at most the day it was in (run again idempotently by the next `advance`). A lease on
the row keeps two runners from running days side by side; a runner that died on this machine
is taken over at once, one elsewhere when its lease runs out.

While the history builds, the live contact cycle's schedules (planning, dispatch, missed
instalments, nightly typologies and retraining) are held: they would act on the history's
debtors at today's time while the history is still in the past. They are given back their
next run when the history is done or fails.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import time_machine
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from accounts.models import Creditor
from collections_site.demo_history import day as day_module
from collections_site.demo_history.models import DemoHistory, DemoHistoryStatus
from collections_site.operations.rollups import rollups_refresh
from collections_site.operations.rollups.recovery import statuses_day_rebuild
from recommender import services as recommender
from recommender.simulator import World

log = logging.getLogger(__name__)

S = DemoHistoryStatus
CREDITOR_SLUG = "demo-history"
LEASE = timedelta(minutes=5)
ROLLUP_DAYS_BACK = 7
HELD_FUNCS = (
    "recommender.tasks.plan_contacts_task",
    "recommender.tasks.typology_refresh_task",
    "recommender.tasks.model_retrain_task",
    "messaging.tasks.dispatch_due",
    "portal.tasks.installments_mark_missed",
)
# Channel backends that never reach a person: the demo's file and console backends (and the
# simulator's). The e-mail channel's Django backend must be one of the local ones too.
LOCAL_BACKENDS = {
    "messaging.backends.sms.FileSmsBackend",
    "messaging.backends.sms.ConsoleSmsBackend",
    "messaging.backends.email.FileEmailBackend",
    "messaging.backends.letter.LetterBatchBackend",
    "recommender.simulator.SimulatedBackend",
}
LOCAL_EMAIL = {
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
}
CHANNEL_SETTINGS = (
    "MESSAGING_EMAIL_CHANNEL_BACKEND",
    "MESSAGING_SMS_BACKEND",
    "MESSAGING_WHATSAPP_BACKEND",
    "MESSAGING_LETTER_BACKEND",
)


class HistoryRefused(Exception):
    """The demo history may not run here (the message says why and what to do)."""


def refusal() -> str | None:
    """Why the demo history may not run here, or None when it may.

    Only in a demo (DEBUG on, or DEMO_HISTORY=1), and only when every channel's backend writes
    files or to the console: simulated messages must never reach a real provider."""
    if not settings.DEMO_HISTORY:
        return (
            "The demo history runs only in a demo: with DEBUG on (`make run`) or DEMO_HISTORY=1. "
            "It writes thousands of simulated debtors and messages; never set it in production."
        )
    wrong = [name for name in CHANNEL_SETTINGS if getattr(settings, name) not in LOCAL_BACKENDS]
    if "MESSAGING_EMAIL_CHANNEL_BACKEND" in wrong and (
        settings.MESSAGING_EMAIL_CHANNEL_BACKEND == "messaging.backends.email.EmailBackend"
        and not settings.MESSAGING_EMAIL_BACKEND
        and settings.EMAIL_BACKEND in LOCAL_EMAIL
    ):
        wrong.remove("MESSAGING_EMAIL_CHANNEL_BACKEND")
    if wrong:
        return (
            "The demo history sends its simulated messages through the channel backends, and "
            f"{', '.join(wrong)} would hand them to a real provider. Use the demo's file "
            "backends (unset those settings and EMAIL_URL) to build it."
        )
    return None


def history_get() -> DemoHistory | None:
    return DemoHistory.objects.filter(key=DemoHistory.KEY).first()


def history_prepare(*, days: int, debtors: int, seed: int = 1, reset: bool = False):
    """The progress row for a history of `days` x `debtors` (created if there is none).

    An existing history of another size is kept unless `reset`: resetting deletes the
    history's creditor and everything of it, then starts again."""
    reason = refusal()
    if reason:
        raise HistoryRefused(reason)
    if days < 1 or debtors < 1:
        raise ValueError("--days and --debtors must be at least 1.")
    row = history_get()
    if row is not None and reset:
        _reset(row)
        row = None
    if row is None:
        return DemoHistory.objects.create(
            days=days, debtors=debtors, seed=seed, start=day_module.history_start(days)
        )
    if (row.days, row.debtors, row.seed) != (days, debtors, seed):
        raise ValueError(
            f"A demo history of {row.days} days and {row.debtors} debtors exists (seed "
            f"{row.seed}); run with those, or with --reset to start again."
        )
    return row


@dataclass
class Chunk:
    """What one `advance` did."""

    days: int = 0
    seconds: float = 0.0
    ran: bool = False  # False: another runner holds the lease, or nothing was left to do


def advance(*, max_seconds: float | None = None, max_days: int | None = None) -> Chunk:
    """Run the next days of the prepared history, until it is done, `max_days` days have
    run, or `max_seconds` have passed (checked between days). Safe to call at any time."""
    reason = refusal()
    if reason:
        raise HistoryRefused(reason)
    row = _lease_take()
    chunk = Chunk()
    if row is None:
        return chunk
    chunk.ran = True
    started = time.perf_counter()
    try:
        creditor = _begin(row)
        world = World(row.debtors, row.seed)
        while row.day_done + 1 < row.days:
            if max_days is not None and chunk.days >= max_days:
                break
            if max_seconds is not None and time.perf_counter() - started >= max_seconds:
                break
            t = time.perf_counter()
            counts = day_module.day_run(creditor=creditor, world=world, seed=row.seed,
                                        start=row.start, day=row.day_done + 1)  # fmt: skip
            _day_record(row, counts, time.perf_counter() - t)
            _rollups_fold(row.start + timedelta(days=row.day_done))
            chunk.days += 1
        if row.day_done + 1 >= row.days:
            _finish(row, S.DONE)
        else:
            _lease_release(row)
    except Exception as exc:
        log.exception("demo history failed on day %d", row.day_done + 2)
        row.error = f"{type(exc).__name__} on day {row.day_done + 2}: {exc}"[:2000]
        _finish(row, S.FAILED)
        raise
    chunk.seconds = time.perf_counter() - started
    return chunk


def _rollups_fold(day_start: datetime) -> None:
    """Bring the cockpit's rollups up to the simulated day just run: the scheduled refresh
    only looks at changes since its (real-time) watermark, and the history's rows carry
    simulated times. A week back covers the late events of earlier sends.

    The accounts-by-status rollup is a snapshot each day takes of itself (no record of a past
    day's statuses exists to rebuild it from): the simulated day's is taken here, with the
    clock at its last instant, as the five-minute refresh takes today's."""
    days = [(day_start - timedelta(days=k)).date() for k in range(ROLLUP_DAYS_BACK)]
    rollups_refresh(days=days)
    end = day_start + timedelta(days=1) - timedelta(microseconds=1)
    with time_machine.travel(end, tick=False):
        statuses_day_rebuild(end.date())


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_dead(owner: str) -> bool:
    """True for a runner on this machine whose process is gone."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _lease_take() -> DemoHistory | None:
    now = timezone.now()
    with transaction.atomic():
        row = DemoHistory.objects.select_for_update().filter(key=DemoHistory.KEY).first()
        if row is None or row.status == S.DONE:
            return None
        held = row.lease_until and row.lease_until > now and row.lease_owner
        if held and row.lease_owner != _owner() and not _owner_dead(row.lease_owner):
            return None
        row.lease_owner, row.lease_until, row.updated_at = _owner(), now + LEASE, now
        row.status = S.RUNNING
        row.error = ""
        row.save(update_fields=["lease_owner", "lease_until", "updated_at", "status", "error"])
    return row


def _lease_release(row: DemoHistory) -> None:
    row.lease_until, row.updated_at = None, timezone.now()
    row.save(update_fields=["lease_until", "updated_at"])


def _begin(row: DemoHistory) -> Creditor:
    """The history's creditor (created on the first day) and the live schedules held."""
    if row.started_at is None:
        row.started_at = timezone.now()
    if not row.held_schedules:
        row.held_schedules = schedules_hold()
    creditor = Creditor.objects.filter(slug=CREDITOR_SLUG).first()
    if creditor is None:
        creditor = Creditor.objects.create(
            name="Harbour Energy (demo history)", slug=CREDITOR_SLUG,
            display_name="Harbour Energy", default_currency="EUR", locale="en",
            max_plan_months=12, max_pause_days=30,
        )  # fmt: skip
    row.creditor_id = creditor.pk
    row.save(update_fields=["started_at", "held_schedules", "creditor_id"])
    recommender.policy_forget()
    return creditor


def _day_record(row: DemoHistory, counts: Counter, seconds: float) -> None:
    now = timezone.now()
    total = Counter(row.counts)
    total.update(counts)
    row.counts = dict(total)
    row.day_done += 1
    row.seconds += seconds
    row.updated_at, row.lease_until = now, now + LEASE
    row.save(update_fields=["counts", "day_done", "seconds", "updated_at", "lease_until"])
    log.info("demo history: day %d of %d in %.1f s", row.day_done + 1, row.days, seconds)


def _finish(row: DemoHistory, status: str) -> None:
    schedules_release(row.held_schedules)
    if status == S.DONE:
        rollups_refresh(full=True)
    now = timezone.now()
    row.status, row.held_schedules = status, {}
    row.lease_until, row.updated_at = None, now
    row.finished_at = now if status == S.DONE else None
    row.save()


def schedules_hold() -> dict[str, str]:
    """Hold the live contact cycle's schedules (next run far away); returns their next runs."""
    held = {}
    for schedule in Schedule.objects.filter(func__in=HELD_FUNCS):
        held[str(schedule.pk)] = schedule.next_run.isoformat() if schedule.next_run else ""
        schedule.next_run = timezone.now() + timedelta(days=3650)
        schedule.save(update_fields=["next_run"])
    return held


def schedules_release(held: dict[str, str]) -> None:
    """Give the held schedules their next run back (now at the latest)."""
    now = timezone.now()
    for pk, iso in held.items():
        when = datetime.fromisoformat(iso) if iso else now
        Schedule.objects.filter(pk=int(pk)).update(next_run=min(when, now))


def _reset(row: DemoHistory) -> None:
    """Delete the history: its creditor with every row of it, and the progress row."""
    from collections_site.demo_history.reset import creditor_delete

    schedules_release(row.held_schedules)
    creditor = Creditor.objects.filter(slug=CREDITOR_SLUG).first()
    if creditor is not None:
        creditor_delete(creditor)
    row.delete()
