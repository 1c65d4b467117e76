"""Compliance throughput: the engine alone, and contact checks including the database.

Usage (PostgreSQL; the database named below is dropped and created afresh):

    .venv/bin/python bench/compliance.py [--debtors 2000] [--checks 5000] [--batch 1000]
        [--engine-iterations 50000]
        [--database-url postgres://postgres@127.0.0.1:5432/collections_bench_compliance]

It prints decisions per second for:
  1. the engine (``compliance.engine.evaluate``), one core, a debtor with 10 past contacts
     across channels (the setup of bench/compliance_engine.py), allowed/blocked/mixed;
  2. ``contact_record``: writing the ledger, one contact per call;
  3. ``contact_check``: one call per decision, each reading the ledger and inserting its audit
     row; once with a commit per check, once with 100 checks per transaction (messaging calls
     it inside its own send transaction, so the commit is not the check's);
  4. ``contacts_check_many``: batches of --batch debtors x 5 channels (the planner), with and
     without audit rows, and ``contacts_allowed_many`` (the yes-or-no answers the planner
     filters its candidates with); all three must agree.
Debtors are spread over US-MA, US-WA, CA-ON, AU, IE and GB; each has 10 past contacts across
channels in the 10 days before the checked instant (Monday 2026-03-09 15:00 UTC).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchdb import recreate_database

ROOT = Path(__file__).resolve().parent.parent
# The project root goes first: this script's own name would otherwise shadow the package.
sys.path.insert(0, str(ROOT))

REGIONS = ["US-MA", "US-WA", "CA-ON", "AU", "IE", "GB"]
CHANNELS = ["call", "sms", "email", "letter", "whatsapp"]
AT = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
PAST = [  # (days before AT, hour UTC, channel, outcome): 10 contacts across channels
    (10, 14, "letter", "delivered"),
    (9, 15, "email", "delivered"),
    (8, 16, "call", "no_answer"),
    (7, 17, "sms", "delivered"),
    (6, 14, "call", "busy"),
    (5, 15, "email", "delivered"),
    (4, 16, "whatsapp", "delivered"),
    (3, 17, "call", "voicemail"),
    (2, 14, "sms", "failed"),
    (1, 15, "email", "delivered"),
]


def rows(n: int) -> list[dict]:
    return [
        {
            "external_ref": f"C-{i:07d}",
            "currency": "USD",
            "original_amount": "250.00",
            "debtor": {
                "external_ref": f"CD-{i:07d}",
                "last_name": f"Debtor{i}",
                "region": REGIONS[i % len(REGIONS)],
                "flags": ["cell_phone"] if i % 4 == 0 else [],
            },
        }
        for i in range(n)
    ]


def rate(label: str, count: int, elapsed: float, unit: str = "decision") -> None:
    per = count / elapsed
    print(f"{label:<66} {per:>10,.0f} {unit}s/s  {1e6 / per:8.1f} us/{unit}")


def engine_figures(iterations: int) -> None:
    sys.path.insert(1, str(ROOT / "bench"))
    import compliance_engine  # bench/compliance_engine.py: same history and questions

    print(f"-- engine only, one core, 10 past contacts, {iterations:,} decisions per line")
    rates: list[float] = []
    for region in ("US-MA", "CA-ON", "AU"):
        rates += compliance_engine._bench_region(region, iterations)
    rates.sort()
    print(f"engine: slowest line {rates[0]:,.0f}/s, median {rates[len(rates) // 2]:,.0f}/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--debtors", type=int, default=2000)
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=1000, help="debtors per planner batch")
    parser.add_argument("--engine-iterations", type=int, default=50_000)
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/collections_bench_compliance",
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    engine_figures(args.engine_iterations)

    recreate_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault(
        "SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collections_site.settings.base")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    from accounts import services as accounts_services
    from accounts.models import Account, Creditor
    from compliance import services
    from compliance.models import ComplianceDecision, ContactAttempt

    call_command("migrate", verbosity=0)  # loads the shipped rule packs (migration 0002)
    creditor = Creditor.objects.create(
        name="Bench", slug="bench", display_name="Bench", default_currency="USD"
    )
    result = accounts_services.placement_upsert(
        creditor=creditor, rows=rows(args.debtors), actor="bench"
    )
    assert not result.rejected, result.rejected[:3]
    accounts = list(Account.objects.select_related("debtor").order_by("id"))
    print(f"-- database: PostgreSQL, {len(accounts):,} debtors in {', '.join(REGIONS)}")

    # The ledger: 10 contacts per debtor, written through contact_record (timed).
    start = time.perf_counter()
    for a in accounts:
        for days, hour, channel, outcome in PAST:
            services.contact_record(
                debtor=a.debtor,
                account=a,
                channel=channel,
                at=(AT - timedelta(days=days)).replace(hour=hour),
                outcome=outcome,
                source="bench",
            )
    n = len(accounts) * len(PAST)
    rate(f"contact_record ({n:,} contacts)", n, time.perf_counter() - start, "contact")
    assert ContactAttempt.objects.count() == n

    # contact_check: one decision per call, audited; first each in its own transaction (so
    # each pays a commit), then inside the caller's transaction, as in messaging's send.
    services.contact_check(debtor=accounts[0].debtor, channel="sms", at=AT, account=accounts[0])

    def single_checks(label: str, per_transaction: int) -> None:
        gc.collect()
        allowed = 0
        start = time.perf_counter()
        for first in range(0, args.checks, per_transaction):
            with transaction.atomic():
                for i in range(first, min(first + per_transaction, args.checks)):
                    a = accounts[i % len(accounts)]
                    channel = CHANNELS[(i // len(accounts)) % len(CHANNELS)]
                    allowed += services.contact_check(
                        debtor=a.debtor, channel=channel, at=AT, account=a
                    ).allowed
        share = allowed / args.checks
        rate(
            f"contact_check, {label} ({share:.0%} allowed)",
            args.checks,
            time.perf_counter() - start,
        )

    single_checks("one commit per check", 1)
    single_checks("100 checks per commit", 100)

    # contacts_check_many: the planner's batches (every channel of every debtor); audited,
    # unaudited, and the yes-or-no form the planner filters its candidates with.
    forms = {
        "contacts_check_many, audit on": lambda c: [
            r.allowed for r in services.contacts_check_many(checks=c)
        ],
        "contacts_check_many, audit off": lambda c: [
            r.allowed for r in services.contacts_check_many(checks=c, audit=False)
        ],
        "contacts_allowed_many (yes or no)": lambda c: services.contacts_allowed_many(checks=c),
    }
    answers = {}
    for name, form in forms.items():
        gc.collect()
        answers[name] = []
        start = time.perf_counter()
        for offset in range(0, len(accounts), args.batch):
            checks = [
                services.CheckRequest(debtor=a.debtor, channel=c, at=AT, account=a)
                for a in accounts[offset : offset + args.batch]
                for c in CHANNELS
            ]
            answers[name] += form(checks)
        seconds = time.perf_counter() - start
        share = sum(answers[name]) / max(1, len(answers[name]))
        rate(f"{name} (batch {args.batch:,} x 5, {share:.0%} allowed)", len(answers[name]), seconds)
    if len({tuple(a) for a in answers.values()}) != 1:
        raise SystemExit("the three forms disagree on some decision")
    print(f"audit rows written: {ComplianceDecision.objects.count():,}")


if __name__ == "__main__":
    main()
