"""Messaging throughput: plan messages with `messages_send`, then dispatch them with the file
backends on PostgreSQL.

Usage (the database named below is dropped and created afresh):

    .venv/bin/python bench/messaging.py [--accounts 100000] [--batch 1000] [--workers 1]
        [--database-url postgres://postgres@127.0.0.1:5432/collections_bench_messaging]

Steps:
  1. place --accounts accounts (US-MA, US-WA, CA-ON, US debtors) and approve one variant per
     entry of --channels (default sms,sms,email: two SMS messages for one email) through the
     compliance workflow (setup, not timed);
  2. plan: one message per account through `messaging.services.messages_send`, in batches of
     --batch (each batch: one transaction, one compliance check per account, rendering,
     Message + timeline rows) -- printed as messages planned per second. The recommender's
     `plan_contacts` calls the same service (its own benchmark adds candidate selection);
     pass --plan-hook module:function to time that planner instead (it is called with
     `accounts`, a queryset of the placed accounts, and `now`);
  3. dispatch: `dispatch_due` with --workers processes at once (file backends: one JSON file
     per message) -- printed as messages
     dispatched per second, and each message is checked to have been handed over once.
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

from benchdb import recreate_database

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
    }
    for i, channel in enumerate(channels):
        text = texts[channel]
        variant = MessageVariant(
            name=f"Bench {channel} {i}",
            channel=channel,
            language="en",
            tone=tone,
            cta="pay_in_full",
            stages=["early"],
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


def dispatch_worker(args: tuple[str, str]) -> int:
    url, outbox = args
    setup_django(url, outbox)
    from messaging.services import dispatch_due

    return dispatch_due(now=NOW).sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--plan-hook", default="", help="module:function planning the accounts")
    parser.add_argument(
        "--channels",
        default="sms,sms,email",
        help="the variants' channels, used in turn (default: two SMS for one email)",
    )
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/collections_bench_messaging",
    )
    args = parser.parse_args()

    recreate_database(args.database_url)
    outbox = tempfile.mkdtemp(prefix="bench-outbox-")
    setup_django(args.database_url, outbox)
    from django.db import connection

    from accounts.models import Account
    from messaging.models import Message

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; database: PostgreSQL")  # fmt: skip
    start = time.perf_counter()
    creditor, variants = setup_data(args.accounts, args.channels.split(","))
    print(f"setup: {args.accounts:,} accounts placed in {time.perf_counter() - start:.1f} s")

    start = time.perf_counter()
    if args.plan_hook:
        from importlib import import_module

        module, _, func = args.plan_hook.partition(":")
        getattr(import_module(module), func)(
            accounts=Account.objects.filter(creditor=creditor), now=NOW
        )
        planned = Message.objects.filter(status="planned").count()
    else:
        planned = plan(creditor, variants, args.batch)
    elapsed = time.perf_counter() - start
    rate = planned / elapsed
    print(f"plan:     {planned:,} messages planned in {elapsed:6.2f} s = {rate:8,.0f} messages/s "
          f"(messages_send, batches of {args.batch:,})")  # fmt: skip
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
    sms = Message.objects.filter(status="sent").count()
    left = Message.objects.filter(status__in=["planned", "queued"]).count()
    print(f"check: {Message.objects.filter(status='sent').count():,} sent, {left} left; "
          f"{files:,} files for {sms:,} sent messages")  # fmt: skip
    if files != sms or sent != planned:
        raise SystemExit("mismatch: a message was lost or handed over twice")


if __name__ == "__main__":
    main()
