"""Benchmark: the operations cockpit over a year of a large book.

Creates a throwaway PostgreSQL database, migrates it and fills it straight with SQL
(`INSERT ... SELECT` over `generate_series`, in the server: not through the services, which
would take hours at this size) with, at `--scale 1`:
1,000,000 messages sent over the last 365 days (9 in 10 delivered, 2 in 100 failed) and
their events (delivered, opened, clicked, converted), 40,000 that never went out (blocked,
cancelled, and 2,000 planned over the next day, a few already due), 100,000 debtors and
accounts, 200,000 payments, 20,000 payment plans with 80,000 instalments, and 300,000
compliance decisions (a quarter refused, by a window, a cap or a flag).

Then it times
1. the full rollup build (`rollups_refresh(full=True)`, every day of every rollup);
2. "a day's events" folded in incrementally (`rollups_refresh()`): a day's new messages,
   events on the last month's messages, a day's payments (each touching its account), a
   day's compliance decisions and a day's instalments settled. Target: under 10 s;
3. each cockpit page as a signed-in agency operator loads it, through gunicorn with the
   production settings (`gunicorn.conf.py`, 2 workers) over real HTTP, `--requests` times one
   after another after two warm-up loads, printing p50 and p95 per page: the five tabs, Health
   with filters, and the outbox behind one cell of the send-time heatmap (not a cockpit page:
   timed for its local-time filter). Target: p95 under 300 ms on 2 cores.
Stops gunicorn and drops the database (unless `--keep`; `--reuse` times the pages again on
a kept database, skipping 1 and 2, and with `--day` folds another day's events into it first
and times that, 2 again: a refresh of one version after another on the same data).

    .venv/bin/python bench/cockpit.py                 # the full size (about 10 minutes)
    .venv/bin/python bench/cockpit.py --scale 0.02    # a small run (about a minute)
    .venv/bin/python bench/cockpit.py --keep          # then, pages only, as often as needed:
    .venv/bin/python bench/cockpit.py --reuse
    .venv/bin/python bench/cockpit.py --reuse --day  # another day's events folded in, then pages

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust), like the tests.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

from benchdb import drop_database, recreate_database
from server import PG, ROOT, csrf_token, free_port, gunicorn_command, manage, production_env, served

PAGES = {
    "Health": "/admin/operations/",
    "Health, filtered": "/admin/operations/?region=US-MA&channel=email&start={start}&end={end}",
    "Recovery": "/admin/operations/recovery/",
    "Engagement": "/admin/operations/engagement/",
    "Recommender": "/admin/operations/recommender/",
    "Compliance": "/admin/operations/compliance/",
    # One cell of the Engagement page's heatmap (Monday 10:00, the page's default 90 days).
    "Outbox cell": "/admin/messaging/outbox/?sent_from={start}&sent_to={end}&local_weekday=0"
    "&local_hour=10",
}
REGIONS = [  # (region, time zone, creditor currency)
    ("US-MA", "America/New_York"),
    ("US-NY", "America/New_York"),
    ("US-CA", "America/Los_Angeles"),
    ("GB", "Europe/London"),
    ("FR", "Europe/Paris"),
]
PASSWORD = "bench-operator-password-1"

SEED_SQL = """
-- Debtors and accounts: one account each, placed over the year, in their creditor's currency.
INSERT INTO accounts_debtor (id, external_ref, first_name, last_name, email, phone, address_line1,
    address_line2, city, postal_code, region, timezone, language, flags, created_at, updated_at,
    creditor_id, preferred_channel)
SELECT g, 'D-' || g, 'Ada', 'Bench', 'd' || g || '@example.com', '+16175550123', '1 Main St', '',
    'Boston', '02101', (%(regions)s::text[])[1 + g %% 5], (%(zones)s::text[])[1 + g %% 5], 'en',
    '[]', now() - interval '400 days', now() - interval '400 days',
    (%(creditors)s::bigint[])[1 + g %% 2], ''
FROM generate_series(1, %(accounts)s) g;

INSERT INTO accounts_account (id, external_ref, description, currency, original_amount,
    current_balance, placed_at, status, status_changed_at, updated_at, creditor_id, debtor_id)
SELECT g, 'A-' || g, 'Energy bill', (ARRAY['USD', 'EUR'])[1 + g %% 2], 100 + (g %% 900),
    100 + (g %% 900),
    now() - (g::float / %(accounts)s * 365) * interval '1 day',
    (ARRAY['active','active','in_plan','in_plan','paused','disputed','paid','settled','closed',
           'recalled'])[1 + g %% 10],
    now() - interval '1 day', now() - interval '1 day', (%(creditors)s::bigint[])[1 + g %% 2], g
FROM generate_series(1, %(accounts)s) g;

-- Payments: two per account on average, received after the placement and before now.
INSERT INTO accounts_payment (id, idempotency_key, amount, currency, method, provider,
    provider_reference, status, received_at, created_at, account_id, creditor_id)
SELECT g, 'P-' || g, 5 + (g %% 50), (ARRAY['USD', 'EUR'])[1 + a %% 2], 'card', 'sandbox', '',
    'succeeded', t, t, a, (%(creditors)s::bigint[])[1 + a %% 2]
FROM (
    SELECT g, 1 + (g * 7919) %% %(accounts)s AS a, a_placed + random() * (now() - a_placed) AS t
    FROM (SELECT g, now() - ((1 + (g * 7919) %% %(accounts)s)::float / %(accounts)s * 365)
                 * interval '1 day' AS a_placed
          FROM generate_series(1, %(payments)s) g) p
) s;

-- Plans on the in-plan accounts, four weekly instalments each from a week after placement.
INSERT INTO accounts_paymentplan (id, frequency, total_amount, instalment_count, status,
    created_at, account_id)
SELECT a.id, 'weekly', a.original_amount, 4, 'active', a.placed_at, a.id
FROM accounts_account a WHERE a.status = 'in_plan';

INSERT INTO accounts_installment (sequence, due_date, amount, amount_paid, status, plan_id,
    paid_at)
SELECT s, (p.created_at + s * interval '7 days')::date, p.total_amount / 4,
    CASE WHEN r < 0.7 THEN p.total_amount / 4 ELSE 0 END,
    CASE WHEN p.created_at + s * interval '7 days' > now() THEN 'pending'
         WHEN r < 0.7 THEN 'paid' ELSE 'missed' END,
    p.id,
    CASE WHEN r < 0.7 AND p.created_at + s * interval '7 days' <= now()
         THEN p.created_at + s * interval '7 days' + (r * 4 - 2) * interval '1 day' END
FROM accounts_paymentplan p, generate_series(1, 4) s, LATERAL (SELECT random() AS r) x;

-- Messages: sent over the year, each as far as it got (nested stages).
INSERT INTO messaging_message (id, channel, language, stage, slot, recipient, subject, body,
    disclosures, links, initial, planned_at, due_at, status, status_reason, status_changed_at,
    attempts, claim, provider, provider_id, arm, model_version, explanation, decision_id,
    created_at, updated_at, account_id, creditor_id, debtor_id, variant_revision_id, variant_id,
    sent_at, sent_local_weekday, sent_local_hour, delivered_at, opened_at, clicked_at,
    converted_at)
SELECT g, 'email', 'en', 'early', 's' || g, 'x@example.com', 'Your account', 'Hello', '[]', '[]',
    false, t, t, CASE WHEN r < 0.9 THEN 'delivered' WHEN r < 0.98 THEN 'sent' ELSE 'failed' END,
    CASE WHEN r >= 0.98 THEN 'bounced' ELSE '' END,
    CASE WHEN r < 0.9 THEN t + interval '1 minute' WHEN r < 0.98 THEN t
         ELSE t + interval '5 minutes' END, 1, '', 'sandbox',
    'p' || g, '', '', '{}', '', t, t + interval '1 hour', 1 + g %% %(accounts)s,
    (%(creditors)s::bigint[])[1 + (1 + g %% %(accounts)s) %% 2], 1 + g %% %(accounts)s,
    %(revision)s, %(variant)s, t,
    -- the debtor's local weekday and hour at sending, as the hand-off stores them
    extract(isodow FROM t AT TIME ZONE (%(zones)s::text[])[1 + (1 + g %% %(accounts)s) %% 5])
        - 1,
    extract(hour FROM t AT TIME ZONE (%(zones)s::text[])[1 + (1 + g %% %(accounts)s) %% 5]),
    CASE WHEN r < 0.9 THEN t + interval '1 minute' END,
    CASE WHEN r < 0.35 THEN t + interval '2 hours' END,
    CASE WHEN r < 0.1 THEN t + interval '3 hours' END,
    CASE WHEN r < 0.02 THEN t + interval '1 day' END
FROM (SELECT g, now() - random() * interval '365 days' AS t, random() AS r
      FROM generate_series(1, %(messages)s) g) s;

-- Messages that never went out: blocked when planned (most), cancelled, and a day's plan
-- still waiting (due over the next day). Still in their accounts' slots, like the others.
INSERT INTO messaging_message (id, channel, language, stage, slot, recipient, subject, body,
    disclosures, links, initial, planned_at, due_at, status, status_reason, status_changed_at,
    attempts, claim, provider, provider_id, arm, model_version, explanation, decision_id,
    created_at, updated_at, account_id, creditor_id, debtor_id, variant_revision_id, variant_id)
SELECT m + g, 'email', 'en', 'early', 'u' || g, 'x@example.com', 'Your account', 'Hello', '[]',
    '[]', false, t,
    CASE WHEN st = 'planned' THEN now() + (random() - 0.05) * interval '1 day' ELSE t END,
    st, CASE WHEN st = 'blocked' THEN 'US.hours' ELSE '' END, t, 0, '', '', '', '', '', '{}', '',
    t, t, 1 + g %% %(accounts)s, (%(creditors)s::bigint[])[1 + (1 + g %% %(accounts)s) %% 2],
    1 + g %% %(accounts)s, %(revision)s, %(variant)s
FROM (SELECT max(id) AS m FROM messaging_message) x,
     (SELECT g, st, CASE WHEN st = 'planned' THEN now() - random() * interval '1 hour'
                         ELSE now() - random() * interval '365 days' END AS t
      FROM (SELECT g, CASE WHEN g %% 20 = 0 THEN 'planned' WHEN g %% 5 = 1 THEN 'cancelled'
                           ELSE 'blocked' END AS st
            FROM generate_series(1, %(unsent)s) g) y) s;

INSERT INTO messaging_messageevent (kind, event_key, source, occurred_at, received_at, data,
    message_id)
SELECT k, k || ':' || m.id, 'bench', t, t, '{}', m.id
FROM messaging_message m,
     LATERAL (VALUES ('delivered', m.delivered_at), ('opened', m.opened_at),
                     ('clicked', m.clicked_at), ('converted', m.converted_at)) e(k, t)
WHERE t IS NOT NULL;

-- Compliance decisions: three quarters allowed; the rest rescheduled by the hours rule or the
-- Massachusetts cap, or blocked by a flag.
INSERT INTO compliance_compliancedecision (channel, at, local_time, time_zone, region, allowed,
    reasons, next_allowed_at, purpose, rules_version, created_at, debtor_id)
SELECT CASE WHEN r < 0.85 THEN 'email' ELSE 'sms' END, t, '2026-01-01T10:00',
    'America/New_York', (%(regions)s::text[])[1 + d %% 5], r < 0.75,
    CASE WHEN r < 0.75 THEN '[]'::jsonb
         WHEN r < 0.85 THEN '[{"code": "US.hours", "message": "Outside hours",
              "citation_text": "12 CFR 1006.6(b)(1)(i)", "citation_url": "https://example.com"}]'
         WHEN r < 0.95 THEN '[{"code": "US-MA.phone_cap_residence", "message": "Cap",
              "citation_text": "209 CMR 18.16(1)(d)", "citation_url": "https://example.com"}]'
         ELSE '[{"code": "US.cease_communication", "message": "Ceased",
              "citation_text": "12 CFR 1006.6(c)(1)", "citation_url": "https://example.com"}]'
    END::jsonb,
    CASE WHEN r >= 0.75 AND r < 0.95 THEN t + interval '1 day' END, 'send', 'bench', t, d
FROM (SELECT 1 + g %% %(accounts)s AS d, now() - random() * interval '365 days' AS t,
             random() AS r
      FROM generate_series(1, %(decisions)s) g) s;

SELECT setval(pg_get_serial_sequence('accounts_debtor', 'id'),
    (SELECT max(id) FROM accounts_debtor));

SELECT setval(pg_get_serial_sequence('accounts_account', 'id'),
    (SELECT max(id) FROM accounts_account));

SELECT setval(pg_get_serial_sequence('accounts_payment', 'id'),
    (SELECT max(id) FROM accounts_payment));

SELECT setval(pg_get_serial_sequence('accounts_paymentplan', 'id'),
    (SELECT max(id) FROM accounts_paymentplan));

SELECT setval(pg_get_serial_sequence('messaging_message', 'id'),
    (SELECT max(id) FROM messaging_message));
"""

# A day of work folded in by the next refresh: new sends, events on the last month's
# messages, payments (each touching its account, as `payment_record` does), decisions and
# instalments settled (with the payment's timeline entry).
DAY_SQL = """
INSERT INTO messaging_message (id, channel, language, stage, slot, recipient, subject, body,
    disclosures, links, initial, planned_at, due_at, status, status_reason, status_changed_at,
    attempts, claim, provider, provider_id, arm, model_version, explanation, decision_id,
    created_at, updated_at, account_id, creditor_id, debtor_id, variant_revision_id, variant_id,
    sent_at, sent_local_weekday, sent_local_hour)
SELECT m + g, 'email', 'en', 'early', 'day' || (m + g), 'x@example.com', 'Your account', 'Hello',
    '[]', '[]', false, now(), now(), 'sent', '', now(), 1, '', 'sandbox', 'd' || (m + g), '', '',
    '{}', '',
    now(), now(), 1 + g %% %(accounts)s,
    (%(creditors)s::bigint[])[1 + (1 + g %% %(accounts)s) %% 2], 1 + g %% %(accounts)s,
    %(revision)s, %(variant)s, now(),
    extract(isodow FROM now() AT TIME ZONE (%(zones)s::text[])[1 + (1 + g %% %(accounts)s) %% 5])
        - 1,
    extract(hour FROM now() AT TIME ZONE (%(zones)s::text[])[1 + (1 + g %% %(accounts)s) %% 5])
FROM (SELECT max(id) AS m FROM messaging_message) x, generate_series(1, %(day_messages)s) g;

UPDATE messaging_message SET opened_at = now(), updated_at = now()
WHERE id IN (SELECT id FROM messaging_message WHERE sent_at > now() - interval '30 days'
             AND opened_at IS NULL ORDER BY id LIMIT %(day_events)s);

INSERT INTO accounts_payment (id, idempotency_key, amount, currency, method, provider,
    provider_reference, status, received_at, created_at, account_id, creditor_id)
SELECT m + g, 'DAY-' || (m + g), 10, (ARRAY['USD', 'EUR'])[1 + a %% 2], 'card', 'sandbox', '',
    'succeeded', now(), now(), a, (%(creditors)s::bigint[])[1 + a %% 2]
FROM (SELECT g, 1 + (g * 104729) %% %(accounts)s AS a
      FROM generate_series(1, %(day_payments)s) g) y,
    (SELECT max(id) AS m FROM accounts_payment) x;

UPDATE accounts_account SET updated_at = now(), current_balance = current_balance - 10
WHERE id IN (SELECT account_id FROM accounts_payment
             WHERE created_at > now() - interval '1 minute');

UPDATE accounts_installment SET status = 'paid', paid_at = now(), amount_paid = amount
WHERE id IN (SELECT id FROM accounts_installment WHERE status = 'pending' ORDER BY due_date
             LIMIT %(day_instalments)s);

INSERT INTO accounts_activity (kind, summary, data, actor, occurred_at, creditor_id, debtor_id,
    account_id)
SELECT 'payment', 'Payment received', '{}', 'bench', now(), a.creditor_id, a.debtor_id, a.id
FROM accounts_paymentplan p JOIN accounts_installment i ON i.plan_id = p.id
    JOIN accounts_account a ON a.id = p.account_id
WHERE i.paid_at > now() - interval '1 minute';

INSERT INTO compliance_compliancedecision (channel, at, local_time, time_zone, region, allowed,
    reasons, next_allowed_at, purpose, rules_version, created_at, debtor_id)
SELECT 'email', now(), '2026-01-01T10:00', 'America/New_York', 'US-MA', g %% 4 > 0,
    CASE WHEN g %% 4 > 0 THEN '[]'::jsonb ELSE '[{"code": "US.hours", "message": "Hours",
         "citation_text": "12 CFR 1006.6(b)(1)(i)", "citation_url": "https://example.com"}]' END,
    CASE WHEN g %% 4 = 0 THEN now() + interval '10 hours' END, 'send', 'bench', now(),
    1 + g %% %(accounts)s
FROM generate_series(1, %(day_decisions)s) g;
"""


def sizes(scale: float) -> dict[str, int]:
    n = {
        "accounts": 100_000, "payments": 200_000, "messages": 1_000_000, "unsent": 40_000,
        "decisions": 300_000,
        # a day's work
        "day_messages": 3_000, "day_events": 3_000, "day_payments": 600,
        "day_instalments": 250, "day_decisions": 1_000,
    }  # fmt: skip
    return {k: max(10, int(v * scale)) for k, v in n.items()}


def seed(n: dict[str, int]) -> None:
    """Two creditors (USD and EUR), a variant with its revision, the agency operator, and the
    book straight in SQL."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from accounts.models import Creditor
    from messaging.models import MessageVariant, Tone

    creditors = [
        Creditor.objects.create(name=f"Bench {c}", slug=f"bench-{c.lower()}",
                                display_name=f"Bench {c}", default_currency=c).pk
        for c in ("USD", "EUR")
    ]  # fmt: skip
    variant = MessageVariant(
        name="Bench reminder", channel="email", language="en", tone=Tone.objects.first(),
        cta="pay_in_full", stages=["early"], regions=[], email_subject="Your account",
        email_body="Hello {{ first_name }}, pay here: {{ portal_link }}", live=True,
    )  # fmt: skip
    variant.save()
    revision = variant.save_revision()
    get_user_model().objects.create_superuser("operator", "operator@example.com", PASSWORD)
    params = {
        **n,
        "creditors": creditors,
        "variant": variant.pk,
        "revision": revision.pk,
        "regions": [r for r, _z in REGIONS],
        "zones": [z for _r, z in REGIONS],
    }
    with connection.cursor() as cursor:
        for statement in SEED_SQL.split(";\n\n"):
            started = time.perf_counter()
            cursor.execute(statement, params)
            took = time.perf_counter() - started
            print(f"  {statement.strip().splitlines()[0][:70]:70} {took:6.1f} s")
        cursor.execute("VACUUM ANALYZE")  # as autovacuum leaves a table that has lived a year
    return params


def day_params(scale: float) -> dict:
    """`DAY_SQL`'s parameters on a kept database (filled at `scale`): its creditors, variant
    and revision."""
    from accounts.models import Account, Creditor
    from messaging.models import MessageVariant

    variant = MessageVariant.objects.get(name="Bench reminder")
    return {
        **sizes(scale),
        "accounts": Account.objects.count(),
        "creditors": list(Creditor.objects.filter(slug__startswith="bench-").order_by("pk")
                          .values_list("pk", flat=True)),
        "variant": variant.pk,
        "revision": variant.latest_revision_id,
        "zones": [z for _r, z in REGIONS],
    }  # fmt: skip


def refresh_timed(label: str, **kwargs) -> float:
    from collections_site.operations.rollups import rollups_refresh

    started = time.perf_counter()
    results = rollups_refresh(**kwargs)
    total = time.perf_counter() - started
    detail = ", ".join(f"{r.name} {r.days} days {r.seconds:.1f} s" for r in results)
    print(f"{label}: {total:.1f} s ({detail})")
    return total


def day_of_events(params: dict) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in DAY_SQL.split(";\n\n"):
            cursor.execute(statement, params)


def sign_in(port: int) -> urllib.request.OpenerDirector:
    """The agency operator's session, through the real login form."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"
    form = opener.open(f"{base}/admin/login/").read().decode()
    token = csrf_token(form)
    body = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": "operator", "password": PASSWORD}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
        f"{base}/admin/login/", data=body, headers={"Referer": f"{base}/admin/login/"}
    )
    landed = opener.open(request)
    assert "/login/" not in landed.geturl(), "the operator could not sign in"
    return opener


def pages_timed(port: int, requests: int) -> None:
    opener = sign_in(port)
    today = datetime.now(UTC).date()
    days = {"start": (today - timedelta(days=89)).isoformat(), "end": today.isoformat()}
    for name, path in PAGES.items():
        url = f"http://127.0.0.1:{port}{path.format(**days)}"
        try:
            for _ in range(2):  # warm-up: the worker's first load of the page
                opener.open(url).read()
        except urllib.error.HTTPError as exc:
            print(f"{name:16} {path}: HTTP {exc.code}, skipped")
            continue
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            response = opener.open(url)
            response.read()
            times.append((time.perf_counter() - started) * 1000)
            assert response.status == 200 and "/login/" not in response.geturl()
        times.sort()
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        print(f"{name:16} p50 {statistics.median(times):6.0f} ms   p95 {p95:6.0f} ms   "
              f"({requests} loads)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1: the full size")
    parser.add_argument("--requests", type=int, default=30, help="loads per page")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", default="collections_bench_cockpit")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time the pages only, on the database an earlier --keep run left (kept again)",
    )
    parser.add_argument(
        "--day",
        action="store_true",
        help="with --reuse: fold another day's events into the kept database and time it first",
    )
    args = parser.parse_args()
    port = free_port()
    url = f"{PG}/{args.database}"
    # The operator signs in with a password alone here.
    env = production_env(url, port, name="cockpit", STAFF_2FA_REQUIRED="0")
    if not args.reuse:
        recreate_database(url)
    try:
        commands = [["migrate", "--noinput"]] if not args.reuse else []
        for command in [*commands, ["collectstatic", "--noinput"]]:
            manage(env, *command)
        os.environ.update(env)
        sys.path[0] = str(ROOT)  # the project's packages, not the bench scripts beside us
        import django

        django.setup()
        if not args.reuse:
            n = sizes(args.scale)
            print(f"Filling the database (scale {args.scale}): {n}")
            started = time.perf_counter()
            params = seed(n)
            print(f"Filled in {time.perf_counter() - started:.0f} s")
            refresh_timed("Full rollup build", full=True)
            day_of_events(params)
            refresh_timed("A day's events, folded in")
        elif args.day:
            day_of_events(day_params(args.scale))
            refresh_timed("Another day's events, folded in")
        with served(gunicorn_command(port, args.workers), env, port):
            pages_timed(port, args.requests)
    finally:
        from django.db import connections

        connections.close_all()
        if not (args.keep or args.reuse):
            drop_database(url)


if __name__ == "__main__":
    main()
