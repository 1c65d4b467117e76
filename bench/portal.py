"""Benchmark: the portal's overview page under 50 concurrent debtors.

Creates a throwaway PostgreSQL database, migrates it, places 50 debtors, starts gunicorn
itself with the production settings (`gunicorn.conf.py`) and 2 workers on 127.0.0.1, signs
50 sessions in through the real link + identity check, then has 50 concurrent clients load
`/p/` for a bounded number of requests (keep-alive when the worker offers it; sync workers
close after each response and the client connects again) and prints requests/second,
p50/p90/p99 latency and the CPU time gunicorn, PostgreSQL and the load generator each spent
per request (a figure other work on the machine moves far less).
Stops gunicorn and drops the database.

    .venv/bin/python bench/portal.py                  # 50 clients x 200 requests
    .venv/bin/python bench/portal.py --requests 100 --worker-class sync
    .venv/bin/python bench/portal.py --rate 300       # latency at an offered 300 req/s
    .venv/bin/python bench/portal.py --shared-socket  # without SO_REUSEPORT, to compare
    .venv/bin/python bench/portal.py --ab db --rounds 5   # the project's own vs the standard

`--ab PIECES` starts gunicorn in turn with the project's own mechanisms and with the standard
ones named (bench/standard.py: `db`, `sessions`, `templates`, `gc`, ...), `--rounds` times
each on the same database and sessions, and prints the medians of each.

Closed loop (the default) measures the most the server does; by Little's law 50 clients
with no pause between requests see a mean latency of 50 / throughput, so p99 under 150 ms
needs well over 333 requests/s there. `--rate` measures latency at a given offered load.

Target: at least 300 requests/s with p99 under 150 ms. Needs PostgreSQL on
127.0.0.1:5432 (user postgres, trust), like the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import random
import re
import runpy
import statistics
import subprocess
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from benchdb import drop_database, recreate_database
from server import (
    CONF,
    PG,
    PY,
    ROOT,
    cpu_seconds,
    csrf_token,
    free_port,
    gunicorn_command,
    manage,
    percentile,
    production_env,
    served,
    server_pids,
)

DB = "collections_bench_portal"


def seed(env: dict[str, str], count: int) -> list[str]:
    """Place `count` debtors (one account each) and return a fresh link token for each."""
    code = f"""
import django, json
django.setup()
from accounts.models import Creditor
from accounts.services import placement_upsert
from accounts.links import portal_token_make
creditor, _ = Creditor.objects.get_or_create(
    slug="bench", defaults={{"name": "Bench Energy", "display_name": "Bench Energy Ltd",
                            "default_currency": "USD"}})
rows = [{{"external_ref": f"B-{{i}}", "currency": "USD", "original_amount": "240.00",
          "due_date": "2026-10-01", "description": "Broadband contract",
          "debtor": {{"external_ref": f"BD-{{i}}", "first_name": "Ada", "last_name": "Bench",
                     "email": f"b{{i}}@example.com", "phone": "+16175550123",
                     "postal_code": "02101", "region": "US-MA",
                     "date_of_birth": "1980-02-03"}}}} for i in range({count})]
result = placement_upsert(creditor=creditor, rows=rows, actor="bench")
assert not result.rejected, result.rejected
ids = list(creditor.debtors.order_by("id").values_list("id", flat=True))
print(json.dumps([portal_token_make(debtor_id=i) for i in ids]))
"""
    out = subprocess.run(
        [PY, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


class Session:
    """One debtor's cookies, signed in through GET /p/<token>/ and POST /p/verify/."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def _request(self, method: str, path: str, body: str | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read().decode()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        conn.close()
        return response.status, response.headers, data

    def sign_in(self, token: str) -> None:
        status, headers, _ = self._request("GET", f"/p/{token}/")
        assert status == 302 and headers["Location"] == "/p/verify/", status
        status, _, page = self._request("GET", "/p/verify/")
        csrf = csrf_token(page)
        form = {"csrfmiddlewaretoken": csrf, "day": "3", "month": "2", "year": "1980",
                "postal_code": "02101"}  # fmt: skip
        status, headers, _ = self._request("POST", "/p/verify/", urlencode(form))
        assert status == 302 and headers["Location"] == "/p/", (status, headers)

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())


async def client(
    port: int,
    cookie: str,
    count: int,
    latencies: list[float],
    errors: list[str],
    interval: float = 0.0,
) -> None:
    """Load /p/ `count` times over one keep-alive connection (reconnects when closed).

    `interval` > 0 paces requests on a fixed schedule (open loop); latency then counts from
    the scheduled time, so a slow server cannot hide its queueing (no coordinated omission).
    """
    request = (
        f"GET /p/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n"
        "Connection: keep-alive\r\n\r\n"
    ).encode()
    reader = writer = None
    loop_start = time.perf_counter() + (interval * random.random() if interval else 0)
    for n in range(count):
        if interval:
            scheduled = loop_start + n * interval
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        if writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        start = scheduled if interval else time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
        body = await reader.readexactly(length)
        latencies.append(time.perf_counter() - start)
        if not head.startswith(b"HTTP/1.1 200") or b"Account B-" not in body:
            errors.append(head.split(b"\r\n", 1)[0].decode())
        if re.search(rb"(?i)connection: close", head):
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def load(port: int, cookies: list[str], per_client: int, rate: float = 0.0):
    latencies: list[float] = []
    errors: list[str] = []
    interval = len(cookies) / rate if rate else 0.0
    started = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(
            *(client(port, c, per_client, latencies, errors, interval) for c in cookies)
        ),
        timeout=300,
    )
    return time.perf_counter() - started, latencies, errors


def measure(server, port: int, sessions, args, database: str) -> dict[str, float]:
    """One timed load against a running server: its figures, printed and returned."""
    asyncio.run(load(port, sessions, 10))  # warm-up: connections, caches
    gunicorn_pids, pg_pids = server_pids(server.pid, database)
    cpu_before = (cpu_seconds(gunicorn_pids), cpu_seconds(pg_pids), time.process_time())
    load_before = os.getloadavg()[0]
    elapsed, latencies, errors = asyncio.run(load(port, sessions, args.requests, args.rate))
    cpu_after = (cpu_seconds(gunicorn_pids), cpu_seconds(pg_pids), time.process_time())
    total = len(latencies)
    cpu_ms = [(b - a) * 1000 / total for a, b in zip(cpu_before, cpu_after, strict=True)]
    figures = {
        "req/s": total / elapsed,
        "p50": percentile(latencies, 50) * 1000,
        "p90": percentile(latencies, 90) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "mean": statistics.fmean(latencies) * 1000,
        "gunicorn CPU": cpu_ms[0],
        "PostgreSQL CPU": cpu_ms[1],
    }
    print(f"  requests/s  {figures['req/s']:8.1f}")
    print(f"  p50         {figures['p50']:8.1f} ms")
    print(f"  p90         {figures['p90']:8.1f} ms")
    print(f"  p99         {figures['p99']:8.1f} ms")
    print(f"  mean        {figures['mean']:8.1f} ms")
    print(f"  errors      {len(errors):8d}")
    print(
        f"  CPU per request: gunicorn {cpu_ms[0]:.2f} ms, PostgreSQL {cpu_ms[1]:.2f} ms, "
        f"load generator {cpu_ms[2]:.2f} ms (2 cores: at most {2000 / sum(cpu_ms):.0f} "
        "req/s if nothing else ran)"
    )
    print(f"  load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    assert not errors, errors[:5]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=200, help="per client")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--worker-class", choices=["gthread", "sync"], help="default: gunicorn.conf.py's"
    )
    parser.add_argument("--threads", type=int, help="per gthread worker")
    parser.add_argument(
        "--shared-socket",
        action="store_true",
        help="one listening socket for all workers (no SO_REUSEPORT), to compare",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="offered requests/s in total (open loop); 0: every client as fast as it can",
    )
    parser.add_argument(
        "--ab",
        default="",
        metavar="PIECES",
        help="alternate servers with the project's own mechanisms and with the standard ones "
        "named (bench/standard.py), --rounds times each, and print the medians of each",
    )
    parser.add_argument("--rounds", type=int, default=3, help="with --ab: runs of each")
    parser.add_argument("--database", default=DB, help="the throwaway database's name")
    parser.add_argument(
        "--redis",
        metavar="URL",
        help="serve with REDIS_URL=URL, as production does (the cache, and sessions read "
        "through it); without it the site runs on database sessions and a local cache",
    )
    args = parser.parse_args()

    conf = runpy.run_path(str(CONF))
    worker_class = args.worker_class or conf["worker_class"]
    threads = 1 if args.worker_class == "sync" else args.threads or conf.get("threads", 1)
    port = free_port()
    url = f"{PG}/{args.database}"
    env = production_env(url, port, name="portal", redis=args.redis)
    static_root = env["STATIC_ROOT"]
    recreate_database(url)
    try:
        for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
            manage(env, *command)
        tokens = seed(env, args.clients)
        # The production settings (gunicorn.conf.py) with 2 workers; flags override them.
        gunicorn = gunicorn_command(port, args.workers)
        if args.worker_class:
            gunicorn += ["--worker-class", args.worker_class]
        if args.threads:
            gunicorn += ["--threads", str(args.threads)]
        if args.worker_class == "sync":
            gunicorn += ["--threads", "1"]  # with threads > 1 gunicorn runs gthread instead
        overrides = []
        if args.shared_socket:  # gunicorn has no flag to turn reuse_port off again
            overrides.append("reuse_port = False")
        variants = {"own": (gunicorn, env)}
        if args.ab:
            standard_env = {
                **env,
                "DJANGO_SETTINGS_MODULE": "bench.standard_settings",
                "BENCH_STANDARD": args.ab,
            }
            standard = list(gunicorn)
            if "gc" in args.ab.split(",") or args.ab == "all":
                standard[standard.index("-c") + 1] = conf_file(
                    static_root, "standard", [*overrides, "def post_worker_init(worker):\n    pass"]
                )
            variants["standard"] = (standard, standard_env)
        if overrides:
            for command, _ in variants.values():
                if command[command.index("-c") + 1] == str(CONF):
                    command[command.index("-c") + 1] = conf_file(static_root, "own", overrides)
        sessions: list[str] = []
        results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        for round_ in range(args.rounds if args.ab else 1):
            for name, (command, variant_env) in variants.items():
                with served(command, variant_env, port) as server:
                    if not sessions:  # sessions live in the database: signed in once
                        for token in tokens:
                            session = Session(port)
                            session.sign_in(token)
                            sessions.append(session.cookie_header())
                    print(
                        f"portal overview: {args.clients} clients, "
                        f"{len(sessions) * args.requests} requests, gunicorn {args.workers} x "
                        f"{worker_class}"
                        + (f" ({threads} threads)" if worker_class == "gthread" else "")
                        + (", one shared socket" if args.shared_socket else ", SO_REUSEPORT")
                        + ", PostgreSQL"
                        + (f", offered {args.rate:.0f} req/s" if args.rate else ", closed loop")
                        + (
                            f"; round {round_ + 1}, {name}"
                            + (f" (standard: {args.ab})" if name == "standard" else "")
                            if args.ab
                            else ""
                        )
                    )
                    results[name].append(measure(server, port, sessions, args, args.database))
        if args.ab:
            print(f"medians of {args.rounds} alternating runs each (standard: {args.ab}):")
            for name, runs in results.items():
                medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                print(
                    f"  {name:9s} {medians['req/s']:7.1f} req/s, p50 {medians['p50']:.1f} ms, "
                    f"p99 {medians['p99']:.1f} ms, gunicorn CPU {medians['gunicorn CPU']:.2f} "
                    f"ms, PostgreSQL CPU {medians['PostgreSQL CPU']:.2f} ms per request"
                )
    finally:
        drop_database(url)


def conf_file(folder: str, name: str, lines: list[str]) -> str:
    """gunicorn.conf.py with `lines` appended, as a file of its own."""
    path = Path(folder) / f"gunicorn-{name}.conf.py"
    path.write_text(f"exec(open({str(CONF)!r}).read())\n" + "\n".join(lines))
    return str(path)


if __name__ == "__main__":
    main()
