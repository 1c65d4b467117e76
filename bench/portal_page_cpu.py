"""Benchmark: the CPU one overview page (`GET /p/`) costs inside the Django process.

No server, no network: the Django test client, in this process, with the production settings
module (`collections_site.settings.base`, DEBUG off, the bench's environment from
`bench/portal.py`), a throwaway database and one debtor signed in through the real link +
identity check. Loads `/p/` in batches and prints the CPU time (user + system) per page of
each batch: the median is the figure, the spread says how steady the machine was. What the
bench's gunicorn workers add on top (HTTP parsing, sockets, threads) is not in it.

    .venv/bin/python bench/portal_page_cpu.py                    # PostgreSQL, 5 x 1,000 pages
    .venv/bin/python bench/portal_page_cpu.py --sqlite           # a SQLite file instead
    .venv/bin/python bench/portal_page_cpu.py --language de      # the page in German
    .venv/bin/python bench/portal_page_cpu.py --profile 30       # cProfile, top 30 by own time
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.out \
        .venv/bin/python bench/portal_page_cpu.py --callgrind --pages 200   # instructions
    .venv/bin/python bench/portal_page_cpu.py --standard money   # babel's format_currency

`--standard PIECES` runs the page with the standard mechanisms named (bench/standard.py) in
place of the project's own, to compare the two.

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) unless `--sqlite`.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchdb import drop_database, instructions_counted, recreate_database

ROOT = Path(__file__).resolve().parent.parent
DB = "collections_bench_portal_cpu"
PG = "postgres://postgres@127.0.0.1:5432"


def environment(database_url: str, standard: str = "") -> None:
    """The environment `bench/portal.py` gives gunicorn, with the test client's host name."""
    for name in ("REDIS_URL", "DEBUG"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": (
                "bench.standard_settings" if standard else "collections_site.settings.base"
            ),
            "BENCH_STANDARD": standard,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "SECURE_HSTS_SECONDS": "0",
            "STATIC_ROOT": tempfile.mkdtemp(prefix="portal-cpu-static-"),
            "LOG_LEVEL": "WARNING",
        }
    )


def signed_in_client(language: str):
    """A test client holding a verified portal session of a freshly placed debtor."""
    from django.test import Client

    from accounts.links import portal_token_make
    from accounts.models import Creditor
    from accounts.services import placement_upsert

    creditor, _ = Creditor.objects.get_or_create(
        slug="bench",
        defaults={"name": "Bench Energy", "display_name": "Bench Energy Ltd",
                  "default_currency": "USD"},
    )  # fmt: skip
    debtor = {"external_ref": "BD-0", "first_name": "Ada", "last_name": "Bench",
              "email": "b0@example.com", "phone": "+16175550123", "postal_code": "02101",
              "region": "US-MA", "date_of_birth": "1980-02-03"}  # fmt: skip
    row = {"external_ref": "B-0", "currency": "USD", "original_amount": "240.00",
           "due_date": "2026-10-01", "description": "Broadband contract",
           "debtor": debtor}  # fmt: skip
    result = placement_upsert(creditor=creditor, rows=[row], actor="bench")
    assert not result.rejected, result.rejected
    debtor_id = creditor.debtors.get().pk
    client = Client()
    assert client.get(f"/p/{portal_token_make(debtor_id=debtor_id)}/").status_code == 302
    page = client.get("/p/verify/").content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = {"csrfmiddlewaretoken": csrf, "day": "3", "month": "2", "year": "1980",
            "postal_code": "02101"}  # fmt: skip
    response = client.post("/p/verify/", form)
    assert response.status_code == 302 and response["Location"] == "/p/", response
    if language != "en":
        page = client.get("/p/").content.decode()
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        client.post("/p/language/", {"csrfmiddlewaretoken": csrf, "language": language})
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file, not PostgreSQL")
    parser.add_argument("--pages", type=int, default=1000, help="pages per batch")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--language", choices=["en", "fr", "de"], default="en")
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="profile a batch (CPU time), print the top N functions")  # fmt: skip
    parser.add_argument("--callgrind", action="store_true",
                        help="under valgrind --tool=callgrind --instr-atstart=no: count the "
                        "instructions of one batch only")  # fmt: skip
    parser.add_argument("--standard", default="", metavar="PIECES",
                        help="standard mechanisms instead of the project's own, comma-separated "
                        "(bench/standard.py)")  # fmt: skip
    parser.add_argument("--database", default=DB, help="the throwaway database's name")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    url = f"{PG}/{args.database}"
    if args.sqlite:
        folder = tempfile.mkdtemp(prefix="portal-cpu-db-")
        environment(f"sqlite:///{folder}/db.sqlite3", args.standard)
    else:
        recreate_database(url)
        environment(url, args.standard)
    try:
        import django
        from django.conf import settings
        from django.core.management import call_command

        django.setup()
        assert not settings.DEBUG
        call_command("migrate", "--noinput", verbosity=0)
        call_command("collectstatic", "--noinput", verbosity=0)
        client = signed_in_client(args.language)
        expected = {"en": b"Account B-0", "fr": b"Compte B-0", "de": b"Konto B-0"}
        for _ in range(200):  # warm-up: imports, caches, the database connection
            response = client.get("/p/")
            assert response.status_code == 200 and expected[args.language] in response.content
        if args.profile:
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            for _ in range(args.pages):
                client.get("/p/")
            profiler.disable()
            stats = pstats.Stats(profiler).strip_dirs().sort_stats("tottime")
            stats.print_stats(args.profile)
            stats.sort_stats("cumulative").print_stats(args.profile)
            return
        if args.callgrind:
            with instructions_counted():
                for _ in range(args.pages):
                    client.get("/p/")
            print(f"counted {args.pages} pages; standard: {args.standard or 'none'}")
            return
        per_page = []
        for _ in range(args.batches):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(args.pages):
                client.get("/p/")
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            per_page.append(cpu * 1000 / args.pages)
            print(f"  batch: {per_page[-1]:.3f} ms CPU, {wall * 1000 / args.pages:.3f} ms wall")
        database = "SQLite" if args.sqlite else "PostgreSQL"
        print(
            f"GET /p/ ({args.language}, {database}, {args.batches} x {args.pages} pages, "
            f"standard: {args.standard or 'none'}): "
            f"median {statistics.median(per_page):.3f} ms CPU per page "
            f"(min {min(per_page):.3f}, max {max(per_page):.3f}); "
            f"load average {os.getloadavg()[0]:.2f}"
        )
    finally:
        if not args.sqlite:
            from django.db import connections

            connections.close_all()
            drop_database(url)


if __name__ == "__main__":
    main()
