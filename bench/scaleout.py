"""Scale-out: the production topology run for real (PostgreSQL, the Redis broker, several
`manage.py qcluster` processes) planning and dispatching a whole portfolio, with one cluster
SIGKILLed (its whole process group) half-way through dispatch.

Usage (the databases named below are dropped and created afresh; of Redis, only the database
numbered in --redis-url is flushed):

    .venv/bin/python bench/scaleout.py [--accounts 50000] [--clusters 2] [--workers 1]
        [--lease 10] [--batch 500] [--no-kill] [--no-compare] [--keep]
        [--database-url postgres://postgres@127.0.0.1:5432/collections_bench_scaleout]
        [--redis-url redis://127.0.0.1:6379/9]
    .venv/bin/python bench/scaleout.py --quick   # 600 accounts and the kill, no 1-cluster run

Steps:
  1. setup (once, not timed): the database is created, migrated, the compliance packs loaded
     (`load_rule_packs`), --accounts accounts placed through `placement_upsert` and three
     variants (two SMS, one e-mail) approved through the compliance workflow, exactly as
     bench/messaging.py does; a copy is kept as a template, so every run starts from the same
     data;
  2. each run starts its clusters: `manage.py qcluster`, each in its own process group, with
     REDIS_URL (django-q2's Redis broker and the cache; its own Redis database, flushed),
     Q_WORKERS=--workers, RECOMMENDER_PLAN_PARTS = every worker of the run, the file channel
     backends writing into a throwaway MESSAGING_OUTBOX_DIR (one JSON file per message, each
     hand-off also logged to handoffs.log) and a short claim lease
     (MESSAGING_CLAIM_LEASE_SECONDS=--lease, 300 in production);
  3. plan (timed): `recommender.tasks.plan_contacts_task` is enqueued with no arguments, as the
     hourly schedule does; it enqueues one task per part, which the workers run side by side.
     Timed from the enqueue to the last part's result;
  4. dispatch (timed): the clusters are started again a day later on their clock (below), when
     every planned message is due, and one `messaging.tasks.dispatch_due` per worker is
     enqueued, as the every-minute schedule does. In the kill run, once half the messages were
     handed over, at a moment when more are claimed than the other clusters can hold, counted
     again with the victim frozen (SIGSTOP: so the victim surely holds claims), the first
     cluster's process group gets SIGKILL and a
     replacement cluster is started; from then on the bench enqueues `dispatch_due` every
     second (the schedule, faster) until every message is out: the dead cluster's claims come
     back when their lease runs out. Timed from the enqueue to the last message sent;
  5. checks (the exit status is 1 if one fails): every planned message sent exactly once
     (outbox rows: all `sent`, none left planned, claimed, failed or cancelled; one file per
     message id in its channel's folder and none for anything else; no message handed to a
     backend twice, from the hand-off log; one contact-ledger entry and one `message_sent`
     timeline row per message), and no task lost (none failed; every task finished except
     those the killed cluster had taken, which the Redis broker cannot give back; the broker
     queue empty at the end).
The kill run comes last (its database is the one --keep keeps); before it, unless
--no-compare, the same portfolio goes through one cluster with no kill, for the 2-vs-1
throughput.

The clusters' clock: what is due, and whether a debtor may be contacted, depend on the time,
and the clusters are processes of their own. Each runs `manage.py qcluster` under
time-machine (a project dependency: the simulator's clock) set to a fixed moment plus the real
time elapsed since, with the same offset in every process of a run: a Tuesday 16:00 UTC for
planning, and for dispatch the next day just after 16:00 UTC, when every planned message is
due (none is planned more than 24 hours ahead) and it is 09:00-12:00 in the debtors' time
zones. Claims and leases are compared on that one clock.
The migrations' schedules are due at the real time of the setup, which the clusters' clock
(March 2026) never reaches, so only the tasks the bench enqueues run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

from benchdb import clone_database, drop_database, recreate_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The planning moment (bench/messaging.py's): a Tuesday, 16:00 UTC, inside every contact
# window of the bench's regions (US, US-MA, US-WA, CA-ON).
PLAN_AT = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
SECRET_KEY = "bench-only-secret-key-0123456789-abcdefghijklmnop"
CHANNELS = ["sms", "sms", "email"]
# `manage.py qcluster` with this process's clock (and its children's: django-q2 forks them)
# moved by argv[1] seconds, ticking with the real one.
CLUSTER_BOOT = """
import sys, time
import time_machine
time_machine.travel(time.time() + float(sys.argv[1]), tick=True).start()
from django.core.management import execute_from_command_line
execute_from_command_line(["manage.py", "qcluster"])
"""


def bench_messaging():
    """bench/messaging.py (its placement and variant set-up), by path: its module name would
    clash with the `messaging` app."""
    spec = importlib.util.spec_from_file_location("bench_messaging", ROOT / "bench/messaging.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- settings shared by the bench and its clusters ------------------------------------------


@dataclass
class Config:
    accounts: int
    clusters: int
    workers: int
    lease: int
    batch: int
    kill: bool
    database_url: str
    redis_url: str
    poll: float


def base_env(cfg: Config, *, clusters: int, outbox: str) -> dict[str, str]:
    """The environment of the bench and its clusters: settings from here only (no .env, none
    of the caller's messaging, recommender or django-q2 variables)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MESSAGING_", "RECOMMENDER_", "Q_", "DJANGO_"))
        and k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "ENV_FILE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="collections_site.settings.base",
        ENV_FILE="",
        DEBUG="0",
        SECRET_KEY=SECRET_KEY,
        DATABASE_URL=cfg.database_url,
        REDIS_URL=cfg.redis_url,
        Q_WORKERS=str(cfg.workers),
        RECOMMENDER_PLAN_PARTS=str(clusters * cfg.workers),
        MESSAGING_OUTBOX_DIR=outbox,
        # The file backends (one JSON file per message, written once), each send also logged.
        MESSAGING_SMS_BACKEND="messaging.tests.backends.HandoffLogFileSmsBackend",
        MESSAGING_EMAIL_CHANNEL_BACKEND="messaging.tests.backends.HandoffLogFileEmailBackend",
        MESSAGING_CLAIM_LEASE_SECONDS=str(cfg.lease),
        MESSAGING_DISPATCH_BATCH=str(cfg.batch),
        LOG_LEVEL="INFO",
    )
    return env


def setup_django(env: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(env)
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()


# --- clusters --------------------------------------------------------------------------------


@dataclass
class Cluster:
    name: str
    proc: subprocess.Popen
    log: Path

    @property
    def pgid(self) -> int:
        return self.proc.pid  # the session leader: its own process group

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def cluster_start(name: str, env: dict[str, str], offset: float, logs: Path) -> Cluster:
    log = logs / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", CLUSTER_BOOT, f"{offset:.6f}"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a session, hence a process group, of its own
        )
    return Cluster(name, proc, log)


def clusters_ready(clusters: list[Cluster], timeout: float = 120) -> None:
    """Wait until each cluster has reported itself running to Redis."""
    deadline = time.monotonic() + timeout
    waiting = list(clusters)
    while waiting:
        for c in waiting:
            if not c.alive():
                raise BenchError(f"cluster {c.name} exited ({c.proc.returncode}):\n{c.tail()}")
        waiting = [c for c in waiting if not _running(c)]
        if time.monotonic() > deadline:
            names = [c.name for c in waiting]
            raise BenchError(f"clusters not running after {timeout:.0f} s: {names}")
        time.sleep(0.1)


def clusters_stop(clusters: list[Cluster], timeout: float = 60) -> None:
    """SIGTERM each cluster's main process, as a supervisor stops it (django-q2 then stops
    taking tasks, lets its workers finish what they hold and saves their results), and SIGKILL
    whatever is left of its process group after `timeout`."""
    for c in clusters:
        if c.alive():
            c.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for c in clusters:
        with contextlib.suppress(subprocess.TimeoutExpired):
            c.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        if group_members(c.pgid):
            _killpg(c.pgid, signal.SIGKILL)  # stragglers of the group
        c.proc.wait()


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def group_members(pgid: int) -> list[int]:
    return [pid for pid, (group, _) in _proc_table().items() if group == pgid]


def group_cpu(pgid: int) -> float:
    """CPU seconds of the live processes of a process group and of their reaped children."""
    return sum(cpu for group, cpu in _proc_table().values() if group == pgid)


def _proc_table() -> dict[int, tuple[int, float]]:
    """pid -> (process group, CPU seconds including reaped children), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        # after the name: state ppid pgrp ... utime(11) stime(12) cutime(13) cstime(14)
        table[int(entry.name)] = (int(fields[2]), sum(int(v) for v in fields[11:15]) / tick)
    return table


# --- one run ---------------------------------------------------------------------------------


class BenchError(Exception):
    """The bench itself could not go on (not a failed check)."""


@dataclass
class RunResult:
    label: str
    clusters: int
    planned: int = 0
    plan_seconds: float = 0.0
    plan_cpu: dict[str, float] = field(default_factory=dict)
    sent: int = 0
    dispatch_seconds: float = 0.0
    dispatch_cpu: dict[str, float] = field(default_factory=dict)
    before_kill: int = 0
    before_kill_seconds: float = 0.0
    recovery_seconds: float = 0.0
    # Messages the dead cluster had handed over but not recorded as sent when it was killed.
    stranded: set[int] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)

    @property
    def plan_rate(self) -> float:
        return self.planned / self.plan_seconds if self.plan_seconds else 0.0

    @property
    def dispatch_rate(self) -> float:
        """Messages/s with every cluster working: up to the kill in the kill run."""
        if self.before_kill_seconds:
            return self.before_kill / self.before_kill_seconds
        return self.sent / self.dispatch_seconds if self.dispatch_seconds else 0.0


class HandoffLog:
    """Follows `<outbox>/handoffs.log` (one line per backend send) as it grows."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.lines = path, 0, 0

    def count(self) -> int:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except FileNotFoundError:
            return 0
        complete = chunk.rfind(b"\n") + 1
        self.offset += complete
        self.lines += chunk[:complete].count(b"\n")
        return self.lines


def run_once(cfg: Config, *, label: str, clusters: int, kill: bool, work: Path) -> RunResult:
    import redis
    from django.db import connection
    from django.db.models import Max
    from django_q.tasks import async_task

    from messaging.models import Message

    result = RunResult(label=label, clusters=clusters)
    outbox, logs = work / "outbox", work / "logs"
    outbox.mkdir(parents=True)
    logs.mkdir()
    env = base_env(cfg, clusters=clusters, outbox=str(outbox))
    parts = clusters * cfg.workers
    redis.Redis.from_url(cfg.redis_url).flushdb()  # this bench's Redis database only
    running: list[Cluster] = []
    enqueued: list[tuple[str, str, float]] = []  # (task id, what, when)

    def enqueue(func: str, what: str) -> None:
        enqueued.append((async_task(func), what, time.perf_counter()))

    try:
        # -- plan -------------------------------------------------------------------------
        offset = PLAN_AT.timestamp() - time.time()
        running = [cluster_start(f"c{i + 1}", env, offset, logs) for i in range(clusters)]
        clusters_ready(running)
        cpu0 = {c.name: group_cpu(c.pgid) for c in running}
        start, busy0 = time.perf_counter(), machine_busy()
        enqueue("recommender.tasks.plan_contacts_task", "plan")
        plan = plan_wait(enqueued[0][0], parts, deadline=start + max(300, cfg.accounts / 50))
        result.plan_seconds = time.perf_counter() - start
        busy = (machine_busy() - busy0) / result.plan_seconds
        result.plan_cpu = {c.name: group_cpu(c.pgid) - cpu0[c.name] for c in running}
        result.planned = sum(p.get("planned", 0) for p in plan)
        rows = Message.objects.filter(status="planned").count()
        blocked = sum(p.get("blocked", 0) for p in plan)
        print(f"  plan:     {result.planned:,} accounts planned in {result.plan_seconds:6.2f} s "
              f"= {result.plan_rate:8,.0f} accounts/s ({parts} part(s); of "
              f"{sum(p.get('due', 0) for p in plan):,} due, {blocked} blocked; cluster CPU "
              f"{_cpu(result.plan_cpu)}; the machine {busy:.2f} of {os.cpu_count()} cores "
              "busy)")  # fmt: skip
        if not rows:
            raise BenchError("nothing was planned")
        if rows != result.planned:
            result.failures.append(f"plan: {rows} planned rows for {result.planned} planned")

        # -- dispatch: the same clusters' set-up a day later on the clock ------------------
        # Every message is due by then, and it is 09:00-12:00 in the debtors' time zones.
        latest = Message.objects.filter(status="planned").aggregate(m=Max("due_at"))["m"]
        dispatch_at = max(latest, PLAN_AT + timedelta(days=1)).replace(second=0, microsecond=0)
        dispatch_at += timedelta(minutes=2)
        connection.close()
        for c in running:
            c.proc.send_signal(signal.SIGTERM)
        offset = dispatch_at.timestamp() - time.time()
        fresh = [cluster_start(f"c{i + 1 + clusters}", env, offset, logs) for i in range(clusters)]
        clusters_stop(running)
        running = fresh
        clusters_ready(running)
        result.failures += dispatch(cfg, result, running, env, offset, logs, kill, enqueue,
                                    HandoffLog(outbox / "handoffs.log"))  # fmt: skip
        # Every task taken is finished before the clusters stop (SIGTERM: the workers finish
        # what they hold, the results are saved).
        broker_drained()
        clusters_stop(running)
        running = []
        result.failures += checks(
            outbox, kill=kill, enqueued=enqueued, parts=parts, stranded=result.stranded
        )
    finally:
        clusters_stop(running, timeout=30)
        redis.Redis.from_url(cfg.redis_url).flushdb()
    return result


def plan_wait(fanout: str, parts: int, *, deadline: float) -> list[dict]:
    """The part results of a planning run once every part has finished."""
    from django_q.models import Task

    while time.perf_counter() < deadline:
        tasks = list(Task.objects.filter(group="plan_contacts")) if parts > 1 else []
        tasks += list(Task.objects.filter(id=fanout))
        for task in tasks:
            if not task.success:
                raise BenchError(f"planning task failed: {task.result}")
        if len(tasks) == parts + (1 if parts > 1 else 0):
            return [t.result for t in tasks if "planned" in (t.result or {})]
        time.sleep(0.05)
    raise BenchError("planning did not finish in time")


def dispatch(cfg, result, running, env, offset, logs, kill, enqueue, handoffs) -> list[str]:
    from messaging.models import Message

    failures = []
    total = result.planned
    victim = running[0]
    cpu0 = {c.name: group_cpu(c.pgid) for c in running}
    start, busy0 = time.perf_counter(), machine_busy()
    for _ in range(len(running) * cfg.workers):
        enqueue("messaging.tasks.dispatch_due", "dispatch")
    deadline = start + 60 + 3 * cfg.lease + total / 200
    killed_at = stranded_checked = half = ready_at = recovered_at = None
    dead_claims: set[int] = set()
    others_hold = (len(running) - 1) * cfg.workers * cfg.batch
    snapshot: list[tuple[int, str, object]] = []
    last_tick = 0.0
    while True:
        now = time.perf_counter()
        if now > deadline:
            failures.append(f"dispatch unfinished after {now - start:.0f} s")
            print(f"  dispatch: unfinished after {now - start:.0f} s")
            break
        handed = handoffs.count()
        queued = Message.objects.filter(status="queued").count()
        if not queued and not Message.objects.filter(status="planned").exists():
            break
        # Half-way, at a moment when more messages are claimed than the other clusters can
        # hold (each worker holds one batch at a time): the victim holds claims too.
        if kill and killed_at is None and handed >= total / 2 and half is None:
            # What the victim did so far, read now: reading /proc takes longer than the moment
            # the kill waits for.
            half = (group_cpu(victim.pgid) - cpu0[victim.name], group_members(victim.pgid))
            continue
        if kill and killed_at is None and half is not None and queued > others_hold:
            # The count above may be stale by the time the signal lands (the victim can finish
            # its batch in between): freeze the victim, then count again. A frozen cluster
            # cannot release a claim, so claims beyond what the others can hold are surely its
            # own; otherwise it is between batches, and the kill waits for another moment.
            _killpg(victim.pgid, signal.SIGSTOP)
            if Message.objects.filter(status="queued").count() <= others_hold:
                _killpg(victim.pgid, signal.SIGCONT)
                continue
            _killpg(victim.pgid, signal.SIGKILL)
            killed_at = time.perf_counter()
            busy = (machine_busy() - busy0) / (killed_at - start)
            victim_cpu, members = half
            victim.proc.wait()
            # Until every process of the group is gone, Redis may still hand a task to the dead
            # pusher's connection (BLPOP), where it would be lost: nothing is enqueued before.
            while group_members(victim.pgid):
                time.sleep(0.01)
            running.remove(victim)
            result.before_kill, result.before_kill_seconds = handed, killed_at - start
            snapshot = list(
                Message.objects.filter(status="queued").values_list("id", "claim", "handoff_at")
            )
            result.dispatch_cpu = {victim.name: victim_cpu}
            replacement = cluster_start(f"c{2 * len(running) + 3}", env, offset, logs)
            running.append(replacement)
            cpu0[replacement.name] = 0.0
            print(f"  dispatch: {handed:,} messages handed over in {killed_at - start:6.2f} s "
                  f"= {handed / (killed_at - start):8,.0f} messages/s by {len(running)} "
                  f"cluster(s), then SIGKILL of {victim.name}'s process group ({len(members)} "
                  f"processes; {victim_cpu:.1f} s CPU dispatching by half-way; the machine "
                  f"{busy:.2f} of {os.cpu_count()} cores busy) with "
                  f"{len(snapshot)} messages claimed; replacement {replacement.name} "
                  "started")  # fmt: skip
        if killed_at is not None:
            if stranded_checked is None and now - killed_at > cfg.lease * 0.5:
                # Before the lease runs out, what is still claimed under a claim of the kill's
                # moment is the dead cluster's: the live one finished its batch long before.
                # Half a lease after the kill, not later: the dead cluster may have claimed
                # its batch a while before the kill (a batch's hand-overs on a busy machine),
                # and its claims must not have expired and been taken over yet.
                claims = {claim for _, claim, _ in snapshot}
                left = list(
                    Message.objects.filter(status="queued", claim__in=claims).values_list(
                        "id", "handoff_at"
                    )
                )
                stranded_checked = now
                dead_claims = {i for i, _ in left}
                result.stranded = {i for i, at in left if at is not None}
                with_file = sum(1 for i in result.stranded if _file_of(handoffs.path.parent, i))
                print(f"            left claimed by the dead cluster: {len(left)} messages, "
                      f"{len(left) - len(result.stranded)} not handed over (to be released), "
                      f"{len(result.stranded)} handed over ({with_file} with their file written: "
                      f"to be recorded as sent; the others released); lease {cfg.lease} "
                      "s")  # fmt: skip
            if ready_at is None and _running(replacement):
                ready_at = now
            if (
                stranded_checked is not None
                and recovered_at is None
                and not (Message.objects.filter(id__in=dead_claims).exclude(status="sent").exists())
            ):
                recovered_at = now
            if now - last_tick >= 1.0 and broker_size() == 0:
                enqueue("messaging.tasks.dispatch_due", "tick")  # the every-minute schedule
                last_tick = now
        time.sleep(cfg.poll)
    end = time.perf_counter()
    result.dispatch_seconds = end - start
    busy = (machine_busy() - busy0) / result.dispatch_seconds
    result.sent = Message.objects.filter(status="sent").count()
    for c in running:
        if c.alive():
            result.dispatch_cpu[c.name] = group_cpu(c.pgid) - cpu0[c.name]
    if killed_at is None:
        print(f"  dispatch: {result.sent:,} messages sent in {result.dispatch_seconds:6.2f} s = "
              f"{result.dispatch_rate:8,.0f} messages/s (cluster CPU "
              f"{_cpu(result.dispatch_cpu)}; the machine {busy:.2f} of {os.cpu_count()} cores "
              "busy)")  # fmt: skip
        if kill:
            failures.append("the kill never happened")
    else:
        result.recovery_seconds = (recovered_at or end) - killed_at
        print(f"            the dead cluster's {len(dead_claims)} claimed messages all sent "
              f"{result.recovery_seconds:.2f} s after the kill (lease {cfg.lease} s; the "
              f"replacement was running {(ready_at or end) - killed_at:.2f} s after the "
              "kill)")  # fmt: skip
        print(f"            every message sent {end - killed_at:.2f} s after the kill (dispatch "
              f"in all {result.dispatch_seconds:.2f} s; cluster CPU "
              f"{_cpu(result.dispatch_cpu)})")  # fmt: skip
    return failures


def machine_busy() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat: not idle or iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def _running(cluster: Cluster) -> bool:
    from django_q.conf import Conf
    from django_q.status import Stat

    running = {str(Conf.IDLE), str(Conf.WORKING)}
    return any(s.pid == cluster.proc.pid and str(s.status) in running for s in Stat.get_all())


def _file_of(outbox: Path, message_id: int) -> bool:
    return any((outbox / channel / f"{message_id}.json").exists() for channel in ("sms", "email"))


def broker_size() -> int:
    from django_q.brokers import get_broker

    return get_broker().queue_size()


def broker_drained(timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while broker_size() and time.monotonic() < deadline:
        time.sleep(0.1)


def _cpu(values: dict[str, float]) -> str:
    return ", ".join(f"{name} {cpu:.1f} s" for name, cpu in values.items())


# --- checks ----------------------------------------------------------------------------------


def checks(
    outbox: Path, *, kill: bool, enqueued: list, parts: int, stranded: set[int]
) -> list[str]:
    """Exactly once, from the outbox rows, the files and the hand-off log; no task lost."""
    from django.db.models import Count
    from django_q.models import Task

    from accounts.models import Activity
    from compliance.models import ContactAttempt
    from messaging.models import Message

    failures = []

    def check(ok: bool, line: str) -> None:
        print(f"    {'ok  ' if ok else 'FAIL'} {line}")
        if not ok:
            failures.append(line)

    print("  checks:")
    statuses = Counter(dict(Message.objects.values_list("status").annotate(n=Count("id"))))
    sent = dict(Message.objects.filter(status="sent").values_list("id", "channel"))
    others = {s: n for s, n in statuses.items() if s != "sent"}
    for reason, n in (
        Message.objects.exclude(status="sent").values_list("status_reason").annotate(n=Count("id"))
    )[:5]:
        print(f"         {n} not sent: {reason[:160] or '(no reason)'}")
    check(not others and statuses["sent"] == len(sent),
          f"outbox rows: {statuses['sent']:,} sent; left planned, claimed, failed or "
          f"cancelled: {others or 'none'}")  # fmt: skip

    files: dict[int, list[str]] = {}
    wrong = 0
    for channel in ("sms", "email"):
        folder = outbox / channel
        for path in folder.glob("*.json") if folder.exists() else []:
            message_id = int(path.stem)
            files.setdefault(message_id, []).append(channel)
            wrong += json.loads(path.read_text())["message_id"] != message_id
    twice = [i for i, chs in files.items() if len(chs) > 1]
    misplaced = [i for i, chs in files.items() if i in sent and chs[0] != sent[i]]
    check(set(files) == set(sent) and not twice and not misplaced and not wrong,
          f"files: {len(files):,} for {len(sent):,} sent messages; without a file "
          f"{len(set(sent) - set(files))}, a file for no sent message "
          f"{len(set(files) - set(sent))}, in two channels {len(twice)}, in the wrong channel "
          f"{len(misplaced)}, naming another message {wrong}")  # fmt: skip

    log = outbox / "handoffs.log"
    handed = Counter(int(line) for line in log.read_text().split()) if log.exists() else Counter()
    again = {i: n for i, n in handed.items() if n > 1}
    unlogged = set(sent) - set(handed)
    # A file written by the dead cluster just before it could log it: found by `reconcile`.
    excused = unlogged <= stranded
    check(not again and set(handed) <= set(sent) and excused,
          f"hand-offs: {sum(handed.values()):,} backend sends for {len(handed):,} messages; "
          f"a message handed over twice: {len(again)}; sent without a logged send: "
          f"{len(unlogged)}")  # fmt: skip

    ledger = Counter(
        ContactAttempt.objects.filter(reference__startswith="message:").values_list(
            "reference", flat=True
        )
    )
    timeline = Counter(
        Activity.objects.filter(kind="message_sent").values_list("data__message_id", flat=True)
    )
    attempts = Message.objects.filter(status="sent").exclude(attempts=1).count()
    check(ledger == Counter({f"message:{i}": 1 for i in sent})
          and timeline == Counter(dict.fromkeys(sent, 1)) and not attempts,
          f"ledger and timeline: {sum(ledger.values()):,} contact attempts, "
          f"{sum(timeline.values()):,} 'sent' timeline rows, {attempts} messages with other than "
          "one attempt")  # fmt: skip

    rows = {t.id: t for t in Task.objects.all()}
    failed = [t for t in rows.values() if not t.success]
    ours = {task_id for task_id, _, _ in enqueued}
    lost = [(task_id, what) for task_id, what, _ in enqueued if task_id not in rows]
    parts_done = sum(1 for t in rows.values() if t.group == "plan_contacts")
    unexpected = [t.func for t in rows.values() if t.id not in ours and t.group != "plan_contacts"]
    expected_lost = kill and all(what == "dispatch" for _, what in lost)
    how = (
        "died with the killed cluster (the Redis broker has no acknowledgement: the tasks a "
        "cluster took are gone with it; their messages came back after the lease)"
        if lost and expected_lost
        else "lost"
    )
    queue = broker_size()
    for task_id, what in lost:
        when = next(t for i, _, t in enqueued if i == task_id) - enqueued[0][2]
        print(f"         not finished: {what} task {task_id}, enqueued at +{when:.2f} s")
    check(not failed and (not lost or expected_lost) and not queue and not unexpected
          and parts_done == (parts if parts > 1 else 0),
          f"tasks: {len(enqueued)} enqueued by the bench and {parts_done} plan parts; "
          f"{len(rows)} finished, {len(failed)} failed, {len(lost)} {how}; other tasks "
          f"{len(unexpected)}; broker queue {queue}")  # fmt: skip
    return failures


# --- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=None, help="default 50,000 (quick: 600)")
    parser.add_argument("--clusters", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="Q_WORKERS of each cluster")
    parser.add_argument("--lease", type=int, default=None,
                        help="MESSAGING_CLAIM_LEASE_SECONDS (default 10; quick: 4)")  # fmt: skip
    parser.add_argument("--batch", type=int, default=None,
                        help="MESSAGING_DISPATCH_BATCH (default 500; quick: 25)")  # fmt: skip
    parser.add_argument("--no-kill", action="store_true", help="no cluster is killed")
    parser.add_argument("--no-compare", action="store_true", help="no 1-cluster run")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="600 accounts, a short lease and small batches, no 1-cluster run",
    )
    parser.add_argument("--keep", action="store_true",
                        help="keep the database, the outbox and the cluster logs")  # fmt: skip
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/collections_bench_scaleout"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9",
                        help="its database number (not 0) is the bench's own: flushed")  # fmt: skip
    args = parser.parse_args()
    quick = args.quick
    cfg = Config(
        accounts=args.accounts or (600 if quick else 50_000),
        clusters=args.clusters,
        workers=args.workers,
        lease=args.lease or (4 if quick else 10),
        batch=args.batch or (25 if quick else 500),
        kill=not args.no_kill,
        database_url=args.database_url,
        redis_url=args.redis_url,
        poll=0.01 if quick else 0.05,
    )
    compare = not (args.no_compare or quick or cfg.clusters == 1)
    name = urlparse(cfg.database_url).path.lstrip("/")
    if name in {"", "postgres", "collections"}:
        raise SystemExit(f"refusing to drop the database {name!r}: name one of the bench's own")
    redis_db = urlparse(cfg.redis_url).path.lstrip("/")
    if not redis_db.isdigit() or redis_db == "0":
        raise SystemExit("--redis-url must name a Redis database of the bench's own (not 0)")
    import redis

    try:
        server = redis.Redis.from_url(cfg.redis_url).info("server")["redis_version"]
    except redis.RedisError as exc:
        print(f"Redis is not reachable at {cfg.redis_url}: {exc}", file=sys.stderr)
        return 2

    template_url = cfg.database_url + "_template"
    work = Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    results: list[RunResult] = []
    started = time.perf_counter()
    try:
        recreate_database(cfg.database_url)
        setup_django(base_env(cfg, clusters=cfg.clusters, outbox=str(work / "setup-outbox")))
        from django.core.management import call_command
        from django.db import connection

        load = " ".join(f"{v:.2f}" for v in os.getloadavg())
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
              f"{platform.python_version()}; PostgreSQL, Redis {server}; load average "
              f"{load}")  # fmt: skip
        start = time.perf_counter()
        bench_messaging().setup_data(cfg.accounts, CHANNELS)  # migrate, place, approve
        call_command("load_rule_packs", stdout=io.StringIO())
        connection.close()
        clone_database(template_url, cfg.database_url)
        print(f"setup:    {cfg.accounts:,} accounts placed, {len(CHANNELS)} variants approved "
              f"in {time.perf_counter() - start:.1f} s (not timed); lease "
              f"{cfg.lease} s, dispatch batch {cfg.batch}, {cfg.workers} worker(s) per "
              "cluster")  # fmt: skip
        runs = [("1 cluster, no kill", 1, False)] if compare else []
        runs.append((f"{cfg.clusters} cluster(s)" + (", one killed" if cfg.kill else ""),
                     cfg.clusters, cfg.kill))  # fmt: skip
        for i, (label, clusters, kill) in enumerate(runs):
            if i:
                connection.close()
                clone_database(cfg.database_url, template_url)
            print(f"run {i + 1}: {label} ({clusters * cfg.workers} worker(s), "
                  f"RECOMMENDER_PLAN_PARTS={clusters * cfg.workers})")  # fmt: skip
            work_dir = work / f"run{i + 1}"
            results.append(run_once(cfg, label=label, clusters=clusters, kill=kill, work=work_dir))
    except BenchError as exc:
        print(f"bench stopped: {exc}", file=sys.stderr)
        return 1
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(template_url)
        if not args.keep:
            drop_database(cfg.database_url)
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept: database {name}, outbox and cluster logs in {work}")
    failures = [f for r in results for f in r.failures]
    if len(results) == 2:
        one, many = results
        print(f"summary: {many.clusters} clusters vs 1: planning {many.plan_rate:,.0f} vs "
              f"{one.plan_rate:,.0f} accounts/s (x{many.plan_rate / one.plan_rate:.2f}), "
              f"dispatch {many.dispatch_rate:,.0f} vs {one.dispatch_rate:,.0f} messages/s "
              f"(x{many.dispatch_rate / one.dispatch_rate:.2f})"
              + (f"; recovery after the kill {many.recovery_seconds:.2f} s (lease "
                 f"{cfg.lease} s)" if many.recovery_seconds else ""))  # fmt: skip
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"total {time.perf_counter() - started:.0f} s; load average {load}")
    if failures:
        print(f"FAILED: {len(failures)} check(s): " + "; ".join(failures))
        return 1
    print("every planned message sent exactly once; no task lost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
