"""The outbox's rollups: `EngagementDay` (the funnel), `SendTimeDay` (local send time) and
`TypologyDay` (conversion by the debtor's typology), all keyed by the UTC day a message was sent.

A message changes after its send day (delivered, opened, clicked, converted, failed); each
change bumps `Message.updated_at`, so the days to rebuild are the send days of the messages
updated since the watermark.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.db.models import BooleanField, Count, ExpressionWrapper, Q

from collections_site.operations.models import EngagementDay, SendTimeDay, TypologyDay
from collections_site.operations.rollups.days import day_bounds, days_of
from compliance.selectors import ruleset_current
from messaging.models import Message, MessageStatus
from messaging.selectors import send_zone


def changed_days(since: datetime | None, until: datetime) -> set[date]:
    sent = Message.objects.filter(sent_at__isnull=False, updated_at__lte=until)
    if since is not None:
        sent = sent.filter(updated_at__gt=since)
    return days_of(sent, "sent_at")


def _sent_on(day: date):
    start, end = day_bounds(day)
    return Message.objects.filter(sent_at__gte=start, sent_at__lt=end).order_by()


def _arm_of(has_decision: bool, arm: str) -> str:
    return arm if has_decision else ""


def day_rebuild(day: date) -> int:
    """Rewrite `day`'s funnel and send-time rows (the caller holds the transaction)."""
    EngagementDay.objects.filter(day=day).delete()
    SendTimeDay.objects.filter(day=day).delete()
    TypologyDay.objects.filter(day=day).delete()
    return _funnel_write(day) + _send_times_write(day) + _typologies_write(day)


def _funnel_write(day: date) -> int:
    """One GROUP BY over the day's sent messages."""
    groups = (
        _sent_on(day)
        .values(
            "creditor_id",
            "debtor__region",
            "channel",
            "variant_id",
            "stage",
            "arm",
            has_decision=ExpressionWrapper(Q(decision__isnull=False), BooleanField()),
        )
        .annotate(
            sent=Count("id"),
            delivered=Count("id", filter=Q(delivered_at__isnull=False)),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
            converted=Count("id", filter=Q(converted_at__isnull=False)),
            failed=Count("id", filter=Q(status=MessageStatus.FAILED)),
        )
    )
    rows: dict[tuple, EngagementDay] = {}
    for g in groups:
        arm = _arm_of(g["has_decision"], g["arm"])
        key = (
            g["creditor_id"],
            g["debtor__region"],
            g["channel"],
            g["variant_id"],
            g["stage"],
            arm,
        )
        row = rows.get(key)
        if row is None:
            rows[key] = row = EngagementDay(
                day=day,
                creditor_id=key[0],
                region=key[1] or "",
                channel=key[2],
                variant_id=key[3],
                stage=key[4] or "",
                arm=arm,
            )
        for measure in ("sent", "delivered", "opened", "clicked", "converted", "failed"):
            setattr(row, measure, getattr(row, measure) + g[measure])
    EngagementDay.objects.bulk_create(rows.values(), batch_size=1000)
    return len(rows)


def _send_times_write(day: date) -> int:
    """The day's messages read once (a few columns each) and counted by local weekday and
    hour in the debtor's zone (`send_zone`, the one compliance reads local time in; the
    outbox's `local_hour` and `local_weekday` filters list the same messages)."""
    messages = _sent_on(day).values_list(
        "creditor_id",
        "debtor__region",
        "debtor__timezone",
        "channel",
        "arm",
        "sent_at",
        "converted_at",
        "decision__id",
    )
    zones: dict[tuple[str, str], ZoneInfo] = {}
    rules = None
    sent: Counter = Counter()
    converted: Counter = Counter()
    for creditor, region, tz, channel, arm, sent_at, converted_at, decision in messages.iterator(
        chunk_size=5000
    ):
        zone = zones.get((tz, region))
        if zone is None:
            rules = rules or ruleset_current()
            zone = zones[(tz, region)] = send_zone(timezone=tz, region=region, rules=rules)
        local = sent_at.astimezone(zone)
        key = (
            creditor,
            region or "",
            channel,
            _arm_of(decision is not None, arm),
            local.weekday(),
            local.hour,
        )
        sent[key] += 1
        if converted_at is not None:
            converted[key] += 1
    SendTimeDay.objects.bulk_create(
        (
            SendTimeDay(
                day=day,
                creditor_id=k[0],
                region=k[1],
                channel=k[2],
                arm=k[3],
                local_weekday=k[4],
                local_hour=k[5],
                sent=n,
                converted=converted[k],
            )
            for k, n in sent.items()
        ),
        batch_size=1000,
    )
    return len(sent)


def _typologies_write(day: date) -> int:
    groups = (
        _sent_on(day)
        .values(
            "creditor_id",
            "debtor__region",
            "channel",
            "arm",
            "debtor__typology__code",
            has_decision=ExpressionWrapper(Q(decision__isnull=False), BooleanField()),
        )
        .annotate(sent=Count("id"), converted=Count("id", filter=Q(converted_at__isnull=False)))
    )
    rows: dict[tuple, TypologyDay] = {}
    for g in groups:
        arm = _arm_of(g["has_decision"], g["arm"])
        key = (
            g["creditor_id"],
            g["debtor__region"] or "",
            g["channel"],
            arm,
            g["debtor__typology__code"] or "",
        )
        row = rows.get(key)
        if row is None:
            rows[key] = row = TypologyDay(
                day=day,
                creditor_id=key[0],
                region=key[1],
                channel=key[2],
                arm=arm,
                typology=key[4],
            )
        row.sent += g["sent"]
        row.converted += g["converted"]
    TypologyDay.objects.bulk_create(rows.values(), batch_size=1000)
    return len(rows)
