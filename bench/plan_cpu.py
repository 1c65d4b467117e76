"""Benchmark: the CPU one planned account costs, in the planner and in its PostgreSQL backend.

`bench/messaging.py` times the hourly planner end to end, and on this project's virtual
machines its wall-clock figure moves with the machine's speed from minute to minute. This
script measures the planner's cost instead, in one process: it plans the same --accounts
due accounts --repeat times, each run inside a transaction that is rolled back (the tables
are vacuumed between runs, so every run starts from the same rows), and prints per account:

- the planner's own CPU (user + system of this process), and
- the CPU of its PostgreSQL backend (read from /proc/<backend pid>/stat: the same machine),

for each run, then the medians. Two code versions are compared by running the script with
each in turn on the same database (`--reuse`), several times over.

    .venv/bin/python bench/plan_cpu.py                       # 3,000 accounts, 7 runs
    .venv/bin/python bench/plan_cpu.py --reuse --repeat 5    # same data, no new setup
    .venv/bin/python bench/plan_cpu.py --profile 40          # cProfile of one run, top 40
    BENCH_SORT=cumulative .venv/bin/python bench/plan_cpu.py --profile 60   # by cumulative
    BENCH_CALLERS=base.py:462 .venv/bin/python bench/plan_cpu.py --profile 20  # who calls it
    .venv/bin/python bench/plan_cpu.py --reuse --standard lock   # a standard mechanism
    .venv/bin/python bench/plan_cpu.py --reuse --due-share 0.1   # one open account in ten due

`--standard PIECES` plans with the standard mechanisms named (bench/standard.py) in place of
the project's own; run it and a run without under callgrind to compare the two.

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) on this machine.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchdb import instructions_counted, recreate_database

ROOT = Path(__file__).resolve().parent.parent
URL = "postgres://postgres@127.0.0.1:5432/collections_bench_plan_cpu"
TABLES = [
    "accounts_account",  # --due-share pauses accounts inside each (rolled back) run
    "messaging_message",
    "accounts_activity",
    "compliance_compliancedecision",
    "recommender_decision",
]


def bench_messaging():
    """bench/messaging.py as a module (its file name would shadow the `messaging` app)."""
    spec = importlib.util.spec_from_file_location("bench_messaging", ROOT / "bench/messaging.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) PostgreSQL backend `pid` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--reuse", action="store_true", help="keep the database of a last run")
    parser.add_argument("--profile", type=int, default=0, help="cProfile one run: top N")
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="under valgrind --tool=callgrind --instr-atstart=no: count the instructions of "
        "the timed runs only (switched on and off around each with callgrind_control)",
    )
    parser.add_argument(
        "--due-share",
        type=float,
        default=1.0,
        help="pause all but this share of the accounts (evenly spread) inside each run: the "
        "planner then scans every open account and plans the due ones; figures per account "
        "scanned",
    )
    parser.add_argument("--database-url", default=URL)
    parser.add_argument("--standard", default="", metavar="PIECES",
                        help="standard mechanisms in place of the project's own")  # fmt: skip
    args = parser.parse_args()
    if not 0 < args.due_share <= 1:  # before the database is dropped and filled
        parser.error("--due-share: a share in (0, 1]")

    bm = bench_messaging()
    if not args.reuse:
        recreate_database(args.database_url)
    if args.standard:
        os.environ["DJANGO_SETTINGS_MODULE"] = "bench.standard_settings"
        os.environ["BENCH_STANDARD"] = args.standard
    bm.setup_django(args.database_url, tempfile.mkdtemp(prefix="bench-plan-cpu-"))
    from django.conf import settings
    from django.db import connection, transaction

    from accounts.models import Account
    from recommender.services import plan_contacts

    settings.RECOMMENDER_STATISTICS_AFTER = 10**9  # no end-of-run ANALYZE in the timed runs
    if not args.reuse:
        bm.setup_data(args.accounts, ["sms", "sms", "email"])
    accounts = Account.objects.count()
    every = round(1 / args.due_share)
    ids = list(Account.objects.order_by("pk").values_list("pk", flat=True))
    paused = [pk for n, pk in enumerate(ids) if n % every]  # not due: no pause is ending
    due = accounts - len(paused)

    def vacuum() -> None:
        with connection.cursor() as cursor:
            for table in TABLES:
                cursor.execute(f"VACUUM ANALYZE {table}")

    vacuum()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    per = "planned account" if not paused else "account scanned"
    print(f"{accounts:,} open accounts, {due:,} of them due, batches of {args.batch:,}; CPU ms "
          f"per {per}")  # fmt: skip
    own, backend = [], []
    for run in range(args.repeat + 1):  # run 0 warms caches and is not counted
        profiler = cProfile.Profile() if args.profile and run == 1 else None
        with instructions_counted(args.callgrind and run > 0), transaction.atomic():
            if paused:
                Account.objects.filter(pk__in=paused).update(status="paused")
            pg0, cpu0 = backend_cpu(pid), time.process_time()
            if profiler:
                profiler.enable()
            result = plan_contacts(now=bm.NOW, batch_size=args.batch, actor="bench")
            if profiler:
                profiler.disable()
            cpu1, pg1 = time.process_time(), backend_cpu(pid)
            transaction.set_rollback(True)
        vacuum()
        assert result.planned == due, (result.planned, due)
        if run:
            own.append((cpu1 - cpu0) * 1000 / accounts)
            backend.append((pg1 - pg0) * 1000 / accounts)
            print(f"run {run}: planner {own[-1]:.3f} ms, PostgreSQL backend {backend[-1]:.3f} ms")
        if profiler:
            pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "tottime")).print_stats(
                args.profile
            )
            if os.environ.get("BENCH_CALLERS"):
                pstats.Stats(profiler).print_callers(os.environ["BENCH_CALLERS"])
    both = [o + b for o, b in zip(own, backend, strict=True)]
    print(
        f"median: planner {statistics.median(own):.3f} ms, PostgreSQL backend "
        f"{statistics.median(backend):.3f} ms, together {statistics.median(both):.3f} ms"
        + (f"; standard: {args.standard}" if args.standard else "")
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
