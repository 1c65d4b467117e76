"""Placement throughput: 100,000 accounts through `accounts.services.placement_upsert`.

Usage (PostgreSQL; the database named below is dropped and created afresh):

    .venv/bin/python bench/placement.py [--rows 100000] [--batch 10000]
        [--database-url postgres://postgres@127.0.0.1:5432/collections_bench]

It runs three passes over the same references, each in batches of --batch rows (one service
call, one transaction per batch, as the API does):
  1. create:    every account and debtor is new;
  2. unchanged: the same rows again (the idempotent re-send of a file: nothing is written);
  3. update:    the same references with a new due date and e-mail (every row is updated).
and prints accounts/second for each.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from benchdb import recreate_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REGIONS = [
    ("US-MA", "+1617", "USD"),
    ("US-WA", "+1206", "USD"),
    ("CA-ON", "+1416", "CAD"),
    ("US", "+1212", "USD"),
]


def make_rows(n: int, *, variant: int = 0) -> list[dict]:
    rows = []
    for i in range(n):
        region, prefix, currency = REGIONS[i % len(REGIONS)]
        rows.append(
            {
                "external_ref": f"B-{i:07d}",
                "currency": currency,
                "original_amount": f"{100 + i % 900}.{i % 100:02d}",
                "due_date": f"2026-{1 + (i + variant) % 12:02d}-15",
                "description": "Benchmark debt",
                "debtor": {
                    "external_ref": f"BD-{i:07d}",
                    "first_name": "Bench",
                    "last_name": f"Debtor{i}",
                    "email": f"bench{i}.v{variant}@example.com",
                    "phone": f"{prefix}{2_000_000 + i:07d}",
                    "address_line1": f"{i} Main Street",
                    "city": "Springfield",
                    "postal_code": f"{i % 100000:05d}",
                    "region": region,
                    "date_of_birth": f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}",
                    "flags": ["cell_phone"] if i % 3 == 0 else [],
                },
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/collections_bench"
    )
    args = parser.parse_args()

    recreate_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault(
        "SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collections_site.settings.base")
    import django

    django.setup()
    from django.core.management import call_command

    from accounts import services
    from accounts.models import Account, Activity, Creditor, Debtor

    call_command("migrate", verbosity=0)
    creditor = Creditor.objects.create(
        name="Bench", slug="bench", display_name="Bench", default_currency="USD"
    )

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"rows: {args.rows:,} in batches of {args.batch:,}; database: PostgreSQL")
    passes = [("create", 0, "created"), ("unchanged", 0, "unchanged"), ("update", 1, "updated")]
    for label, variant, expect in passes:
        rows = make_rows(args.rows, variant=variant)
        counted = 0
        start = time.perf_counter()
        for offset in range(0, len(rows), args.batch):
            result = services.placement_upsert(
                creditor=creditor, rows=rows[offset : offset + args.batch], actor="bench"
            )
            if result.rejected:
                raise SystemExit(f"unexpected rejections: {result.rejected[:3]}")
            counted += len(getattr(result, expect))
        elapsed = time.perf_counter() - start
        if counted != args.rows:
            raise SystemExit(f"{label}: expected {args.rows} {expect}, got {counted}")
        rate = args.rows / elapsed
        print(f"{label:>9}: {args.rows:,} accounts in {elapsed:6.2f} s = {rate:8,.0f} accounts/s")

    print(
        f"database now holds {Account.objects.count():,} accounts, "
        f"{Debtor.objects.count():,} debtors, {Activity.objects.count():,} timeline rows"
    )


if __name__ == "__main__":
    main()
