"""Messaging throughput: plan messages for 100,000 due accounts, then dispatch them with the
file backends on PostgreSQL.

Usage (the database named below is dropped and created afresh):

    .venv/bin/python bench/messaging.py [--accounts 100000] [--plan-workers 2] [--workers 1]
        [--planner plan_contacts|messages_send] [--batch 1000] [--events 20000]
        [--events-batch 200]
        [--database-url postgres://postgres@127.0.0.1:5432/collections_bench_messaging]

Steps:
  1. place --accounts accounts (US-MA, US-WA, CA-ON, US debtors, never contacted) and approve
     one variant per entry of --channels (default sms,sms,email) for the first-contact and
     early stages through the compliance workflow (setup, not timed);
  2. plan (timed): the hourly job, `recommender.services.plan_contacts`, with the uniform
     policy used when no model is live: find the due accounts, build their
     candidates (variants x send times), drop what compliance blocks, pick one, and
     `messages_send` it (compliance re-check with audit row, rendering, Message + timeline
     rows), in batches of --batch. With --plan-workers N, N planner processes run side by
     side on disjoint debtors (`part`/`parts`, as `RECOMMENDER_PLAN_PARTS` does on the
     workers); each sets itself up first, then all start together and the time runs from
     that start to the last one's end. Printed as accounts planned per second, with the CPU
     time per account of the planners and of the rest of the machine (PostgreSQL, on a
     quiet machine) and the rate those allow on all cores (a figure the machine's changing
     speed moves less than it moves the wall time).
     `--planner messages_send` times the outbox service alone instead (one variant per
     account chosen by the script, due now);
  3. the planned messages are made due now (one UPDATE and a refresh of the outbox
     statistics, not timed: the planner picked send times up to a day ahead);
  4. dispatch (timed): `dispatch_due` with --workers processes at once (file backends: one
     JSON file per message) -- printed as messages dispatched per second, and each message is
     checked to have been handed over once;
  5. events (timed): the tracking endpoints' services for the first --events sent messages
     (at most half of them),
     one call per event as the endpoints make them: an open (`message_open`), then a click
     of the first link (`message_click`). Printed as events recorded per second and the
     CPU per event of this process and of the rest of the machine (PostgreSQL); each message
     is checked to carry its open and click stamps and two events;
  6. events in batches (timed): the same open and click for the next --events sent messages,
     recorded --events-batch at a time with `events_record` (as a caller holding many events
     does), printed and checked as step 5.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchdb import recreate_database, sampling_profiler

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REGIONS = [("US-MA", "+1617"), ("US-WA", "+1206"), ("CA-ON", "+1416"), ("US", "+1212")]
# A Tuesday, 16:00 UTC: inside every contact window of these regions.
NOW = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)


def setup_django(url: str, outbox: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["MESSAGING_OUTBOX_DIR"] = outbox
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnop")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collections_site.settings.base")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings

    # Email to files as well (one JSON file per message): no SMTP server is measured here.
    settings.MESSAGING_EMAIL_CHANNEL_BACKEND = "messaging.backends.email.FileEmailBackend"


def make_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        region, prefix = REGIONS[i % len(REGIONS)]
        rows.append(
            {
                "external_ref": f"MB-{i:07d}",
                "currency": "USD",
                "original_amount": f"{100 + i % 900}.{i % 100:02d}",
                "due_date": "2026-01-15",
                "description": "Benchmark debt",
                "debtor": {
                    "external_ref": f"MBD-{i:07d}",
                    "first_name": "Bench",
                    "last_name": f"Debtor{i}",
                    "email": f"bench{i}@example.com",
                    "phone": f"{prefix}{2_000_000 + i:07d}",
                    "address_line1": f"{i} Main Street",
                    "city": "Springfield",
                    "postal_code": f"{i % 100000:05d}",
                    "region": region,
                },
            }
        )
    return rows


def setup_data(n: int, channels: list[str]):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from accounts import services as accounts_services
    from accounts.models import Creditor
    from messaging.models import MessageVariant, Tone

    call_command("migrate", verbosity=0)
    creditor = Creditor.objects.create(
        name="Bench", slug="bench", display_name="Bench Energy", default_currency="USD"
    )
    rows = make_rows(n)
    for start in range(0, n, 10_000):
        result = accounts_services.placement_upsert(
            creditor=creditor, rows=rows[start : start + 10_000], actor="bench"
        )
        assert not result.rejected, result.rejected[:2]
    reviewer = get_user_model().objects.create_user("bench-reviewer")
    reviewer.groups.add(Group.objects.get(name="Compliance reviewers"))
    tone = Tone.objects.get(slug="friendly")
    variants = []
    texts = {
        "sms": {"sms_text": "Hi {{ first_name }}, {{ balance }} is due: {{ portal_link }}"},
        "email": {
            "email_subject": "Your {{ creditor_name }} balance",
            "email_body": "Hello {{ first_name }},\n\nYou owe {{ balance }}.\n\n"
            "Pay here: {{ portal_link }}",
        },
        # A letter prints its portal link as a QR code beside the text.
        "letter": {
            "letter_body": "Dear {{ first_name }},\n\nYou owe {{ balance }}.\n\n"
            "Pay or set up a plan at {{ portal_link }}"
        },
    }
    for i, channel in enumerate(channels):
        text = texts[channel]
        variant = MessageVariant(
            name=f"Bench {channel} {i}",
            channel=channel,
            language="en",
            tone=tone,
            cta="pay_in_full",
            stages=["first_contact", "early"],
            live=False,
            **text,
        )
        variant.full_clean()
        variant.save()
        variant.save_revision(user=reviewer)
        state = variant.get_workflow().start(variant, reviewer)
        state.current_task_state.specific.approve(user=reviewer)
        variant.refresh_from_db()
        assert variant.live
        variants.append(variant)
    return creditor, variants


def plan(creditor, variants, batch: int) -> int:
    from accounts.models import Account
    from messaging.services import SendRequest, messages_send

    ids = list(
        Account.objects.filter(creditor=creditor).order_by("id").values_list("id", flat=True)
    )
    planned = 0
    for start in range(0, len(ids), batch):
        accounts = list(
            Account.objects.filter(id__in=ids[start : start + batch]).select_related(
                "debtor", "creditor"
            )
        )
        requests = [
            SendRequest(
                account=a,
                variant=variants[a.pk % len(variants)],
                planned_at=NOW - timedelta(minutes=5),
                stage="early",
                propensity=1 / len(variants),
                model_version="uniform",
            )
            for a in accounts
        ]
        results = messages_send(requests=requests, actor="bench")
        planned += sum(1 for m in results if m.status == "planned")
    return planned


def plan_worker(job: tuple) -> dict[str, float]:
    """One planner process: `plan_contacts` on part `part` of `parts` (uniform policy)."""
    url, outbox, part, parts, batch, barrier = job
    setup_django(url, outbox)
    from recommender.services import plan_contacts

    if barrier is not None:
        barrier.wait()
    busy0, cpu0 = machine_busy_seconds(), time.process_time()
    t0 = time.perf_counter()  # CLOCK_MONOTONIC: one clock for all the processes
    result = profiled(
        {"1", "plan"} if parts == 1 else set(),  # one planner: BENCH_PROFILE=1 or =plan
        lambda: plan_contacts(now=NOW, batch_size=batch, part=part, parts=parts, actor="bench"),
    )
    t1 = time.perf_counter()
    return {"planned": result.planned, "due": result.due, "blocked": result.blocked,
            "t0": t0, "t1": t1, "cpu": time.process_time() - cpu0, "busy0": busy0,
            "busy1": machine_busy_seconds()}  # fmt: skip


def profiled(kinds: set[str], call):
    """`call()`; under a pyinstrument sampling profile, printed, when BENCH_PROFILE is one
    of `kinds`."""
    if os.environ.get("BENCH_PROFILE") not in kinds:
        return call()
    Profiler = sampling_profiler()

    with Profiler() as profiler:
        result = call()
    print(profiler.output_text(color=False, show_all=False))
    return result


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (Linux /proc/stat: not idle/iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def plan_contacts_timed(
    url: str, outbox: str, workers: int, batch: int
) -> tuple[int, float, float, float]:
    """(accounts planned, seconds, planners' CPU seconds, the whole machine's busy seconds)."""
    if workers == 1:
        r = plan_worker((url, outbox, 0, 1, batch, None))
        return int(r["planned"]), r["t1"] - r["t0"], r["cpu"], r["busy1"] - r["busy0"]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(workers) as pool:
        barrier = manager.Barrier(workers)
        jobs = [(url, outbox, i, workers, batch, barrier) for i in range(workers)]
        results = pool.map(plan_worker, jobs)
        busy1 = machine_busy_seconds()  # the last planner has just returned
    planned = sum(int(r["planned"]) for r in results)
    elapsed = max(r["t1"] for r in results) - min(r["t0"] for r in results)
    cpu = sum(r["cpu"] for r in results)
    return planned, elapsed, cpu, busy1 - min(r["busy0"] for r in results)


def dispatch_worker(args: tuple[str, str]) -> int:
    url, outbox = args
    setup_django(url, outbox)
    from messaging.services import dispatch_due

    return profiled({"dispatch"}, lambda: dispatch_due(now=NOW).sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--planner",
        choices=["plan_contacts", "messages_send"],
        default="plan_contacts",
        help="what the plan step times (default: the hourly planner end to end)",
    )
    parser.add_argument("--plan-workers", type=int, default=1, help="planner processes")
    parser.add_argument(
        "--events", type=int, default=20_000, help="sent messages opened and clicked (0: none)"
    )
    parser.add_argument(
        "--events-batch", type=int, default=200, help="events per events_record call (step 6)"
    )
    parser.add_argument(
        "--channels",
        default="sms,sms,email",
        help="the variants' channels, used in turn (default: two SMS for one email; "
        "letter: a letter with its QR code)",
    )
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/collections_bench_messaging",
    )
    args = parser.parse_args()
    if args.events < 0:
        parser.error("--events: a number of messages, 0 or more")
    if args.events_batch < 1:
        parser.error("--events-batch: a number of events, 1 or more")

    recreate_database(args.database_url)
    outbox = tempfile.mkdtemp(prefix="bench-outbox-")
    setup_django(args.database_url, outbox)
    from django.db import connection

    from messaging.models import Message

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; database: PostgreSQL")  # fmt: skip
    start = time.perf_counter()
    creditor, variants = setup_data(args.accounts, args.channels.split(","))
    print(f"setup: {args.accounts:,} accounts placed in {time.perf_counter() - start:.1f} s")

    connection.close()
    if args.planner == "plan_contacts":
        planned, elapsed, cpu, busy = plan_contacts_timed(
            args.database_url, outbox, max(1, args.plan_workers), args.batch
        )
        what = f"plan_contacts, uniform policy, {max(1, args.plan_workers)} planner(s)"
        unit = "accounts"
    else:
        start = time.perf_counter()
        planned = plan(creditor, variants, args.batch)
        elapsed = time.perf_counter() - start
        what = f"messages_send alone, batches of {args.batch:,}"
        unit = "messages"
    rate = planned / elapsed
    print(f"plan:     {planned:,} {unit} planned in {elapsed:6.2f} s = {rate:8,.0f} {unit}/s "
          f"({what})")  # fmt: skip
    if args.planner == "plan_contacts" and planned:
        print(f"          CPU per account: planners {cpu / planned * 1000:.2f} ms, the rest of "
              f"the machine (PostgreSQL) {(busy - cpu) / planned * 1000:.2f} ms; at "
              f"{os.cpu_count()} cores that is at most "
              f"{os.cpu_count() * planned / busy:,.0f} accounts/s")  # fmt: skip
    # Setup for the dispatch step, not timed: every planned message due now, and the outbox
    # statistics refreshed as the planner leaves them (this UPDATE made them stale).
    Message.objects.filter(status="planned").update(due_at=NOW - timedelta(minutes=5))
    from messaging.services import outbox_statistics_refresh

    outbox_statistics_refresh()
    connection.close()

    start = time.perf_counter()
    if args.workers == 1:
        sent = dispatch_worker((args.database_url, outbox))
    else:
        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            sent = sum(pool.map(dispatch_worker, [(args.database_url, outbox)] * args.workers))
    elapsed = time.perf_counter() - start
    rate = sent / elapsed
    print(f"dispatch: {sent:,} messages dispatched in {elapsed:6.2f} s = {rate:8,.0f} messages/s "
          f"({args.workers} worker(s), file backends)")  # fmt: skip

    files = sum(1 for _ in Path(outbox, "sms").glob("*.json"))
    files += sum(1 for _ in Path(outbox, "email").glob("*.json"))
    files += sum(1 for _ in Path(outbox, "letters").glob("*/*.html"))
    sent_rows = Message.objects.filter(status="sent").count()
    left = Message.objects.filter(status__in=["planned", "queued"]).count()
    print(f"check: {sent_rows:,} sent, {left} left; {files:,} files for {sent_rows:,} sent "
          "messages")  # fmt: skip
    if files != sent_rows or sent != planned:
        raise SystemExit("mismatch: a message was lost or handed over twice")
    if args.events:
        n = min(args.events, sent_rows // 2)
        events_timed(n, offset=0, batch=None)
        events_timed(n, offset=n, batch=args.events_batch)


def events_timed(n: int, *, offset: int, batch: int | None) -> None:
    """Steps 5 and 6: an open and a click for each of `n` sent messages (from the `offset`-th),
    timed: one call each (`batch` None), or `batch` events per `events_record` call."""
    from messaging.models import EventKind, Message, MessageEvent
    from messaging.services import EventIn, events_record, message_click, message_open

    ids = list(
        Message.objects.filter(status="sent").exclude(links=[]).order_by("pk")
        .values_list("pk", flat=True)[offset : offset + n]
    )  # fmt: skip
    if not ids:
        raise SystemExit("events: too few sent messages with a link to open and click (one for "
                         "each of the two events steps at least)")  # fmt: skip
    at = NOW + timedelta(hours=1)
    start, cpu0, busy0 = time.perf_counter(), time.process_time(), machine_busy_seconds()

    def record() -> None:
        if batch is None:
            for pk in ids:
                message_open(message_id=pk, at=at)
                message_click(message_id=pk, index=0, at=at)
            return
        events = [
            EventIn(pk, kind, f"{kind}:{pk}", "tracking", at, data)
            for pk in ids
            for kind, data in ((EventKind.OPENED, None), (EventKind.CLICKED, {"link": 0}))
        ]
        for lo in range(0, len(events), batch):
            events_record(events[lo : lo + batch])

    profiled({"events"}, record)
    elapsed = time.perf_counter() - start
    cpu, busy = time.process_time() - cpu0, machine_busy_seconds() - busy0
    events = 2 * len(ids)
    how = "one call each" if batch is None else f"events_record, {batch:,} a call"
    print(f"events:   {events:,} events recorded in {elapsed:6.2f} s = {events / elapsed:8,.0f} "
          f"events/s (an open and a click for {len(ids):,} messages, {how}); CPU per "
          f"event: this process {cpu / events * 1000:.2f} ms, the rest of the machine "
          f"(PostgreSQL) {(busy - cpu) / events * 1000:.2f} ms")  # fmt: skip
    stamped = Message.objects.filter(
        pk__in=ids, opened_at__isnull=False, clicked_at__isnull=False
    ).count()
    recorded = MessageEvent.objects.filter(message_id__in=ids).count()
    if stamped != len(ids) or recorded != events:
        raise SystemExit(f"mismatch: {stamped} messages stamped, {recorded} events recorded")


if __name__ == "__main__":
    main()
