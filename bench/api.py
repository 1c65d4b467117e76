"""Benchmark: creditors syncing a large book through the API's lists.

Fills a PostgreSQL database (`--database`, kept between runs and reused while its size
matches) straight with SQL (`INSERT ... SELECT` over `generate_series`, in the server: the
services would take hours at this size). At the default `--accounts 1000000`, the creditor
paged has 1,000,000 accounts (each with its debtor) placed in files of 500 that share one
timestamp, a tenth of them changed once since on their own; 1,000,000 payments over the year;
and 1,000,000 webhook events over the last 30 days, each carrying its account as the API shows
it. A second creditor holds a tenth as much, interleaved in time, which the queries must skip.

Then it starts gunicorn with the production settings (`gunicorn.conf.py`, `--workers` 2) and,
for each of `GET /api/v1/accounts/?updated_since=...`, `/api/v1/events/?created_since=...` and
`/api/v1/payments/?received_since=...` (100 results a page):
1. one client alone pages from the start of the creditor's data to the end (`--single-pages`
   caps it), and checks it received every row exactly once;
2. `--clients` (50) concurrent clients, each with its own API key, each start at its own
   point spread over the data and read `--pages` pages (or to the end, if sooner), over
   keep-alive connections with no pause between requests.
It prints pages/s, p50/p95/p99 latency per page and the CPU gunicorn, PostgreSQL and the
clients themselves (this process, on the same cores) spent per page, per endpoint and mode,
and each gunicorn worker's share of the workers' CPU (keep-alive connections stay with the
worker that accepted them, so an uneven split leaves a core idle at the end of a run). For the
concurrent clients it also prints the rate while every one of them was still paging (until
the first read its last page): the whole run's rate includes its tail, when fewer clients are
left.
Rate limits are raised far above what the run makes, so the throttle still counts every
request but refuses none.

    .venv/bin/python bench/api.py                              # 1,000,000 accounts
    .venv/bin/python bench/api.py --accounts 2000 --pages 5    # a tiny run
    .venv/bin/python bench/api.py --redis redis://127.0.0.1:6379/8   # counters in Redis

Targets: one client p50 < 25 ms per page; 50 clients >= 300 pages/s with p99 < 300 ms, on
each of the three endpoints. Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust),
like the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

import psycopg
from benchdb import recreate_database
from server import (
    PG,
    PY,
    ROOT,
    cpu_seconds,
    free_port,
    gunicorn_command,
    manage,
    percentile,
    production_env,
    served,
    server_pids,
)

PAGE_SIZE = 100
# Far above what a run makes: the throttle counts each request and refuses none.
RATE = "100000000/minute"
ENDPOINTS = {  # name: (path, the since parameter, the table, its timestamp, its unique key)
    "accounts": ("/api/v1/accounts/", "updated_since", "accounts_account", "updated_at"),
    "events": ("/api/v1/events/", "created_since", "webhooks_webhookevent", "created_at"),
    "payments": ("/api/v1/payments/", "received_since", "accounts_payment", "received_at"),
}
UNIQUE = {"accounts": "external_ref", "events": "id", "payments": "id"}

FILL_SQL = """
SELECT setseed(0.42);

-- Debtors and accounts, one each. Every 11th row is the other creditor's. Accounts come in
-- placement files of 500 that share one timestamp, spread over the year; a tenth of them
-- changed once since, each at its own time.
INSERT INTO accounts_debtor (id, external_ref, first_name, last_name, email, phone,
    address_line1, address_line2, city, postal_code, region, timezone, language, flags,
    created_at, updated_at, creditor_id, preferred_channel)
SELECT g, 'D-' || g, 'Ada', 'Bench', 'd' || g || '@example.com', '+16175550123', '1 Main St',
    '', 'Boston', '02101', (ARRAY['US-MA', 'US-NY', 'US-CA', 'GB', 'FR'])[1 + g %% 5],
    (ARRAY['America/New_York', 'America/New_York', 'America/Los_Angeles', 'Europe/London',
           'Europe/Paris'])[1 + g %% 5], 'en',
    CASE WHEN g %% 7 = 0 THEN '["opted_out_sms", "cell_phone"]'::jsonb ELSE '[]'::jsonb END,
    %(start)s, %(start)s, CASE WHEN g %% 11 = 10 THEN %(other)s ELSE %(creditor)s END, ''
FROM generate_series(1, %(rows)s) g;

INSERT INTO accounts_account (id, external_ref, description, currency, original_amount,
    current_balance, due_date, placed_at, status, status_changed_at, updated_at, creditor_id,
    debtor_id)
SELECT g, 'A-' || g, 'Energy bill', c, amount, CASE WHEN g %% 4 = 0 THEN amount / 2
    ELSE amount END, CASE WHEN g %% 3 = 0 THEN NULL ELSE (placed + interval '30 days')::date END,
    placed, (ARRAY['active', 'active', 'in_plan', 'paused', 'paid', 'settled'])[1 + g %% 6],
    placed, CASE WHEN g %% 10 = 3 THEN placed + random() * (now() - placed) ELSE placed END,
    CASE WHEN g %% 11 = 10 THEN %(other)s ELSE %(creditor)s END, g
FROM (SELECT g, CASE WHEN g %% 13 = 0 THEN 'JPY' ELSE 'USD' END AS c,
             CASE WHEN g %% 13 = 0 THEN 5000 + g %% 9000 ELSE 100.5 + g %% 900 END AS amount,
             %(start)s + (g / 500) * 500 * %(step)s AS placed
      FROM generate_series(1, %(rows)s) g) s;

-- Payments, each on an account of its creditor, received over the year after its placement.
INSERT INTO accounts_payment (id, idempotency_key, amount, currency, method, provider,
    provider_reference, status, received_at, created_at, account_id, creditor_id)
SELECT g, 'P-' || g, 5 + g %% 50, a.currency,
    (ARRAY['card', 'bank_transfer', 'direct_debit'])[1 + g %% 3], 'sandbox', 'ref-' || g,
    'succeeded', t, t, a.id, a.creditor_id
FROM (SELECT g, 1 + (g::bigint * 7919) %% %(rows)s AS account,
             %(start)s + (g::float / %(rows)s) * (now() - %(start)s) AS t
      FROM generate_series(1, %(rows)s) g) p
JOIN accounts_account a ON a.id = p.account;

-- Events of the last 30 days, each with its account as the API shows it.
INSERT INTO webhooks_webhookevent (id, type, created_at, api_version, data, creditor_id)
SELECT 'evt_' || lpad(to_hex(g), 24, '0'),
    (ARRAY['account.status_changed', 'payment.succeeded', 'account.placed'])[1 + g %% 3],
    now() - interval '30 days' + (g::float / %(rows)s) * interval '30 days', 'v1',
    jsonb_build_object('object', jsonb_build_object(
        'external_ref', a.external_ref, 'status', a.status, 'currency', a.currency,
        'original_amount', a.original_amount::text, 'current_balance', a.current_balance::text,
        'due_date', a.due_date, 'description', a.description, 'placed_at', a.placed_at,
        'status_changed_at', a.status_changed_at, 'updated_at', a.updated_at,
        'debtor', jsonb_build_object('external_ref', d.external_ref, 'region', d.region,
                                     'timezone', d.timezone, 'language', d.language,
                                     'flags', d.flags)),
        'previous_status', 'active'),
    a.creditor_id
FROM generate_series(1, %(rows)s) g
JOIN accounts_account a ON a.id = 1 + (g::bigint * 104729) %% %(rows)s
JOIN accounts_debtor d ON d.id = a.debtor_id;

SELECT setval(pg_get_serial_sequence('accounts_debtor', 'id'), %(rows)s);

SELECT setval(pg_get_serial_sequence('accounts_account', 'id'), %(rows)s);

SELECT setval(pg_get_serial_sequence('accounts_payment', 'id'), %(rows)s)
"""

# The creditors, their API user and the keys: through the services, in a Django process.
SETUP_CODE = """
import json, sys
import django
django.setup()
from accounts.api_keys.services import api_key_issue, api_user_for
from accounts.models import Creditor
creditors = [
    Creditor.objects.get_or_create(slug=slug, defaults={"name": name, "display_name": name,
                                   "default_currency": "USD"})[0]
    for slug, name in (("bench-api", "Bench API Energy"), ("bench-api-other", "Bench Other"))
]
user = api_user_for(creditor=creditors[0])
keys = [api_key_issue(user=user, name=f"bench client {n}", actor="bench")[1]
        for n in range(int(sys.argv[1]))]
print(json.dumps({"creditors": [c.pk for c in creditors], "keys": keys}))
"""

# `--explain`: each list's second page (after a keyset cursor) from its median row, through
# the view in a Django process, and the plan of the query that read it, run again under
# EXPLAIN (ANALYZE, BUFFERS): the query the server runs, with its parameters.
EXPLAIN_CODE = """
import json, sys
import django
django.setup()
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
key, paths = sys.argv[1], json.loads(sys.argv[2])
client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {key}")
for path in paths:
    first = client.get(path)
    assert first.status_code == 200, first.content[:300]
    following = first.json()["next"]
    with CaptureQueriesContext(connection) as queries:
        second = client.get(following)
    assert second.status_code == 200, second.content[:300]
    (sql,) = [q["sql"] for q in queries.captured_queries if "JSON_BUILD_OBJECT" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        plan = [line for (line,) in cursor.fetchall()]
    print(json.dumps({"path": following.split("/", 3)[3], "sql": sql, "plan": plan}))
"""


def explain(env: dict[str, str], key: str, paths: dict[str, str]) -> None:
    """Print the plan of each list's page query (EXPLAIN_CODE), for docs/benchmarks.md."""
    done = subprocess.run(
        [PY, "-c", EXPLAIN_CODE, key, json.dumps(list(paths.values()))],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    plans = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    for endpoint, found in zip(paths, plans, strict=True):
        print(f"\n{endpoint}: GET /{found['path']}\n{found['sql']}\n")
        print("\n".join(found["plan"]))


def fill(url: str, accounts: int, creditors: list[int]) -> None:
    """The book, straight in SQL, then VACUUM ANALYZE (as autovacuum would have by then)."""
    rows = accounts + accounts // 10
    start = datetime.now().astimezone() - timedelta(days=365)
    params = {
        "rows": rows,
        "creditor": creditors[0],
        "other": creditors[1],
        "start": start,
        "step": timedelta(days=300) / rows,
    }
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in FILL_SQL.split(";\n\n"):
            started = time.perf_counter()
            conn.execute(statement, params)
            took = time.perf_counter() - started
            lines = statement.strip().splitlines()
            first = next(line for line in lines if not line.startswith("--"))
            print(f"  {first[:70]:70} {took:6.1f} s", flush=True)
        started = time.perf_counter()
        for table in ("accounts_debtor", "accounts_account", "accounts_payment",
                      "webhooks_webhookevent"):  # fmt: skip
            conn.execute(f"VACUUM ANALYZE {table}")
        print(f"  {'VACUUM ANALYZE':70} {time.perf_counter() - started:6.1f} s")
        conn.execute(f"COMMENT ON DATABASE \"{urlsplit(url).path.lstrip('/')}\" IS "
                     f"'bench/api.py accounts={accounts}'")  # fmt: skip


def filled_with(url: str) -> int | None:
    """How many accounts the database was filled with, or None (absent, or not filled)."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [name],
        ).fetchone()
    if row is None or not row[0]:
        return None
    match = re.fullmatch(r"bench/api\.py accounts=(\d+)", row[0])
    return int(match.group(1)) if match else None


# --- Clients ----------------------------------------------------------------------------------


@dataclass
class Run:
    """What one mode on one endpoint measured."""

    latencies: list[float] = field(default_factory=list)
    done_at: list[float] = field(default_factory=list)  # each page's answer, from the start
    finished_at: list[float] = field(default_factory=list)  # each client's last answer
    started: float = 0.0
    rows: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    seen: set[str] | None = None  # every row's key, when checked
    duplicates: int = 0


_NEXT = re.compile(rb'\{"next":(?:null|"([^"]*)")')
_RESULT = {
    "accounts": re.compile(rb'"placed_at"'),
    "events": re.compile(rb'"api_version"'),
    "payments": re.compile(rb'"provider_reference"'),
}


async def client(
    port: int, key: str, path: str, pages: int, run: Run, endpoint: str, check: bool
) -> None:
    """Page from `path` along the `next` links until the end or `pages` pages, over one
    keep-alive connection (connecting again if the server closes it)."""
    reader = writer = None
    for _ in range(pages):
        if writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
            "Accept: application/json\r\nConnection: keep-alive\r\n\r\n"
        ).encode()
        started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
        body = await reader.readexactly(length)
        answered = time.perf_counter()
        run.latencies.append(answered - started)
        run.done_at.append(answered - run.started)
        if not head.startswith(b"HTTP/1.1 200"):
            run.errors.append(head.split(b"\r\n", 1)[0].decode() + " " + body[:200].decode())
            break
        if check:
            results = json.loads(body)["results"]
            run.rows += len(results)
            for result in results:
                unique = result[UNIQUE[endpoint]]
                if unique in run.seen:
                    run.duplicates += 1
                run.seen.add(unique)
        else:
            run.rows += len(_RESULT[endpoint].findall(body))
        if re.search(rb"(?i)connection: close", head):
            writer.close()
            reader = writer = None
        following = _NEXT.match(body).group(1)
        if following is None:
            break
        parts = urlsplit(following.decode())
        path = f"{parts.path}?{parts.query}"
    if writer is not None:
        writer.close()
    run.finished_at.append(time.perf_counter() - run.started)


async def clients(port: int, keys: list[str], paths: list[str], pages: int, endpoint: str,
                  check: bool) -> Run:  # fmt: skip
    run = Run(seen=set() if check else None, started=time.perf_counter())
    await asyncio.gather(
        *(client(port, key, path, pages, run, endpoint, check)
          for key, path in zip(keys, paths, strict=True))
    )  # fmt: skip
    run.seconds = time.perf_counter() - run.started
    return run


# --- Measuring --------------------------------------------------------------------------------


def starts(url: str, endpoint: str, creditor: int, count: int, pages: int) -> tuple[list, int]:
    """`count` starting points spread over the creditor's rows, each leaving at least `pages`
    pages to read when there are that many; and how many rows the creditor has."""
    _path, _since, table, column = ENDPOINTS[endpoint]
    with psycopg.connect(url) as conn:
        (total,) = conn.execute(
            f"SELECT count(*) FROM {table} WHERE creditor_id = %s",  # noqa: S608 (constants)
            [creditor],
        ).fetchone()
        spread = max(0.0, 1 - pages * PAGE_SIZE / total) if total else 0.0
        fractions = [spread * n / count for n in range(count)]
        (points,) = conn.execute(
            f"SELECT percentile_disc(%s::float[]) WITHIN GROUP (ORDER BY {column}) "  # noqa: S608
            f"FROM {table} WHERE creditor_id = %s",
            [fractions, creditor],
        ).fetchone()
    return points, total


def report(
    label: str,
    run: Run,
    cpu: tuple[float, float, float],
    load: tuple[float, float],
    split: list[float],
) -> None:
    pages = len(run.latencies)
    figures = {
        "pages": pages,
        "rows": run.rows,
        "pages/s": pages / run.seconds if run.seconds else 0.0,
        "p50": percentile(run.latencies, 50) * 1000,
        "p95": percentile(run.latencies, 95) * 1000,
        "p99": percentile(run.latencies, 99) * 1000,
        "max": max(run.latencies) * 1000,
        "gunicorn CPU": cpu[0] * 1000 / pages,
        "PostgreSQL CPU": cpu[1] * 1000 / pages,
        "client CPU": cpu[2] * 1000 / pages,
    }
    print(
        f"  {label:34} {pages:6d} pages {run.rows:8d} rows {run.seconds:7.1f} s "
        f"{figures['pages/s']:7.1f} pages/s  p50 {figures['p50']:6.1f}  p95 {figures['p95']:6.1f}"
        f"  p99 {figures['p99']:6.1f}  max {figures['max']:6.1f} ms  CPU/page gunicorn "
        f"{figures['gunicorn CPU']:.2f} ms, PostgreSQL {figures['PostgreSQL CPU']:.2f} ms, "
        f"clients {figures['client CPU']:.2f} ms  "
        f"workers {'/'.join(f'{share:.0%}' for share in sorted(split, reverse=True))}  "
        f"load {load[0]:.1f}->{load[1]:.1f}",
        flush=True,
    )
    if len(run.finished_at) > 1:
        # Until the first client reads its last page, every client is paging: the rate of
        # that many concurrent clients. After it, fewer are, and a worker whose clients are
        # all done sits idle while the other serves the rest (the split above).
        window = min(run.finished_at)
        during = sum(1 for t in run.done_at if t <= window)
        print(
            f"    while all {len(run.finished_at)} clients paged: {during} pages in {window:.1f} s,"
            f" {during / window if window else 0.0:.1f} pages/s",
            flush=True,
        )
    if run.errors:
        print(f"    {len(run.errors)} errors, first: {run.errors[0]}")


def measure(server, port: int, database: str, keys: list[str], paths: list[str], pages: int,
            endpoint: str, check: bool, label: str) -> Run:  # fmt: skip
    """Run the clients and report; CPU is read per process from /proc: gunicorn's, and the
    database's backends (one that exits meanwhile takes its CPU time along uncounted)."""
    gunicorn_pids, pg_pids = server_pids(server.pid, database)
    gunicorn_before = cpu_seconds(gunicorn_pids)
    workers_before = {pid: cpu_seconds([pid]) for pid in gunicorn_pids[1:]}
    pg_before = {pid: cpu_seconds([pid]) for pid in pg_pids}
    load_before = os.getloadavg()[0]
    client_before = time.process_time()
    run = asyncio.run(clients(port, keys, paths, pages, endpoint, check))
    client_cpu = time.process_time() - client_before
    _, pg_pids = server_pids(server.pid, database)  # with the connections opened meanwhile
    cpu = (
        cpu_seconds(gunicorn_pids) - gunicorn_before,
        sum(cpu_seconds([pid]) - pg_before.get(pid, 0.0) for pid in pg_pids),
        client_cpu,
    )
    # Each worker's share of the workers' CPU: keep-alive connections stay with the worker
    # that accepted them, so an uneven split leaves a core idle once the lighter one is done.
    workers = [cpu_seconds([pid]) - before for pid, before in workers_before.items()]
    split = [w / sum(workers) for w in workers] if sum(workers) > 0 else []
    report(label, run, cpu, (load_before, os.getloadavg()[0]), split)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000, help="of the creditor paged")
    parser.add_argument(
        "--clients", type=int, default=50, help="concurrent clients after the one alone; 0: none"
    )
    parser.add_argument("--pages", type=int, default=100, help="per concurrent client")
    parser.add_argument(
        "--single-pages", type=int, default=0, help="for the client alone; 0: to the end"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--endpoints", default=",".join(ENDPOINTS), help="comma-separated: accounts,events,payments"
    )
    parser.add_argument(
        "--database", default="collections_bench_api", help="kept, and reused while its size fits"
    )
    parser.add_argument("--refill", action="store_true", help="drop and fill the database anew")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="then print each list's page query with its EXPLAIN (ANALYZE, BUFFERS) plan",
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        help="serve with REDIS_URL=URL, as production does (the throttle's counters); without "
        "it each worker counts in its local-memory cache",
    )
    args = parser.parse_args()
    if args.clients < 0 or args.pages < 1 or args.workers < 1:
        parser.error("--clients must be 0 or more, --pages and --workers 1 or more")
    endpoints = [e for e in args.endpoints.split(",") if e]
    port = free_port()
    url = f"{PG}/{args.database}"
    env = production_env(
        url, port, name="api", redis=args.redis, API_RATE_BURST=RATE, API_RATE_SUSTAINED=RATE
    )
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
          f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")  # fmt: skip
    reuse = not args.refill and filled_with(url) == args.accounts
    if not reuse:
        recreate_database(url)
    started = time.perf_counter()
    manage(env, "migrate", "--noinput")
    setup = subprocess.run(
        [PY, "-c", SETUP_CODE, str(max(args.clients, 1))],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    made = json.loads(setup.stdout.strip().splitlines()[-1])
    creditor, keys = made["creditors"][0], made["keys"]
    if reuse:
        print(f"Reusing {args.database} ({args.accounts} accounts)")
    else:
        print(f"Filling {args.database} with {args.accounts} accounts (and as many payments "
              "and events), and a tenth as much for a second creditor")  # fmt: skip
        fill(url, args.accounts, made["creditors"])
        print(f"Filled in {time.perf_counter() - started:.0f} s")
    failed = []
    with served(gunicorn_command(port, args.workers), env, port) as server:
        print(
            f"gunicorn {args.workers} workers (gunicorn.conf.py), PostgreSQL, "
            f"{'Redis' if args.redis else 'local-memory'} cache; page size {PAGE_SIZE}; "
            f"one client pages {'to the end' if not args.single_pages else args.single_pages}; "
            f"{args.clients} clients page {args.pages} pages each (or to the end)"
        )
        for endpoint in endpoints:
            path, since, _table, _column = ENDPOINTS[endpoint]
            points, total = starts(url, endpoint, creditor, max(args.clients, 1), args.pages)
            first = f"{path}?{urlencode({since: points[0].isoformat()})}"
            # Warm-up: each worker's first requests, and the connections.
            warm = keys[:4]
            asyncio.run(clients(port, warm, [first] * len(warm), 3, endpoint, False))
            single_pages = args.single_pages or total // PAGE_SIZE + 2
            run = measure(
                server, port, args.database, keys[:1], [first], single_pages, endpoint,
                True, f"{endpoint}: 1 client",
            )  # fmt: skip
            if run.errors or run.duplicates:
                failed.append(f"{endpoint}, 1 client: {len(run.errors)} errors, "
                              f"{run.duplicates} rows twice")  # fmt: skip
            if not args.single_pages and run.rows != total:
                failed.append(f"{endpoint}, 1 client: read {run.rows} rows of {total}")
            if args.clients:
                paths = [f"{path}?{urlencode({since: p.isoformat()})}" for p in points]
                run = measure(
                    server, port, args.database, keys, paths, args.pages, endpoint, False,
                    f"{endpoint}: {args.clients} clients",
                )  # fmt: skip
                if run.errors:
                    failed.append(f"{endpoint}, {args.clients} clients: {len(run.errors)} errors")
    if args.explain:
        medians = {}
        for endpoint in endpoints:
            path, since, _table, _column = ENDPOINTS[endpoint]
            (_start, median), _total = starts(url, endpoint, creditor, 2, 0)
            medians[endpoint] = f"{path}?{urlencode({since: median.isoformat()})}"
        explain(env, keys[0], medians)
    for failure in failed:
        print(f"FAILED: {failure}")
    if failed:
        sys.exit(1)
    print(f"every page answered 200; the client alone read every row once ({len(endpoints)} "
          "endpoints)" if not args.single_pages else "every page answered 200")  # fmt: skip


if __name__ == "__main__":
    main()
