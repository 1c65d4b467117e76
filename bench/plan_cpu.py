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
    .venv/bin/python bench/plan_cpu.py --reuse --standard lock   # a standard mechanism

`--standard PIECES` plans with the standard mechanisms named (bench/standard.py) in place of
the project's own; `--ab PIECES` alternates runs without and with them in one process
(the code pieces only: `lock`, `money`), printing the medians of each.

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
    parser.add_argument("--database-url", default=URL)
    parser.add_argument("--standard", default="", metavar="PIECES",
                        help="standard mechanisms in place of the project's own")  # fmt: skip
    parser.add_argument("--ab", default="", metavar="PIECES",
                        help="alternate runs: the project's own, then the standard")  # fmt: skip
    args = parser.parse_args()

    bm = bench_messaging()
    if not args.reuse:
        recreate_database(args.database_url)
    if args.standard or args.ab:
        os.environ["DJANGO_SETTINGS_MODULE"] = "bench.standard_settings"
        os.environ["BENCH_STANDARD"] = args.standard
    bm.setup_django(args.database_url, tempfile.mkdtemp(prefix="bench-plan-cpu-"))
    swap = ab_switch(args.ab)
    from django.conf import settings
    from django.db import connection, transaction

    from accounts.models import Account
    from recommender.services import plan_contacts

    settings.RECOMMENDER_STATISTICS_AFTER = 10**9  # no end-of-run ANALYZE in the timed runs
    if not args.reuse:
        bm.setup_data(args.accounts, ["sms", "sms", "email"])
    accounts = Account.objects.count()

    def vacuum() -> None:
        with connection.cursor() as cursor:
            for table in TABLES:
                cursor.execute(f"VACUUM ANALYZE {table}")

    vacuum()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    print(f"{accounts:,} due accounts, batches of {args.batch:,}; CPU ms per planned account")
    own, backend = [], []
    standard = [False]
    for run in range(args.repeat + 1):  # run 0 warms caches and is not counted
        if args.ab:
            standard.append(run % 2 == 0)  # 1: own, 2: standard, 3: own, ...
            swap(standard[-1])
        profiler = cProfile.Profile() if args.profile and run == 1 else None
        with instructions_counted(args.callgrind and run > 0), transaction.atomic():
            pg0, cpu0 = backend_cpu(pid), time.process_time()
            if profiler:
                profiler.enable()
            result = plan_contacts(now=bm.NOW, batch_size=args.batch, actor="bench")
            if profiler:
                profiler.disable()
            cpu1, pg1 = time.process_time(), backend_cpu(pid)
            transaction.set_rollback(True)
        vacuum()
        assert result.planned == accounts, (result.planned, accounts)
        if run:
            own.append((cpu1 - cpu0) * 1000 / accounts)
            backend.append((pg1 - pg0) * 1000 / accounts)
            label = (" standard" if standard[-1] else " own") if args.ab else ""
            print(
                f"run {run}{label}: planner {own[-1]:.3f} ms, "
                f"PostgreSQL backend {backend[-1]:.3f} ms"
            )
        if profiler:
            pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "tottime")).print_stats(
                args.profile
            )
    groups = {"": list(range(len(own)))}
    if args.ab:
        flags = standard[2:]
        groups = {
            " own": [i for i, f in enumerate(flags) if not f],
            f" standard ({args.ab})": [i for i, f in enumerate(flags) if f],
        }
    for name, runs in groups.items():
        o, b = [own[i] for i in runs], [backend[i] for i in runs]
        both = [x + y for x, y in zip(o, b, strict=True)]
        print(
            f"median{name}: planner {statistics.median(o):.3f} ms, PostgreSQL backend "
            f"{statistics.median(b):.3f} ms, together {statistics.median(both):.3f} ms"
        )


def ab_switch(pieces: str):
    """A function that turns the code pieces named on (True) or back off (False)."""
    if not pieces:
        return lambda on: None
    import standard as std  # bench/standard.py, next to this script

    from accounts import money
    from recommender import selectors as recommender_selectors

    chosen = set(pieces.split(","))
    unknown = chosen - {"lock", "money"}
    if unknown:
        raise SystemExit(f"--ab takes lock and money only, not {sorted(unknown)}")
    own = (money.format_money, recommender_selectors.with_row_version)

    def swap(on: bool) -> None:
        if "money" in chosen:
            money.format_money = std._format_money if on else own[0]
        if "lock" in chosen:
            recommender_selectors.with_row_version = (lambda qs: qs) if on else own[1]

    return swap


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
