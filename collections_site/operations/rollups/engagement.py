"""The outbox's rollups: `EngagementDay` (the funnel), `SendTimeDay` (local send time) and
`TypologyDay` (conversion by the debtor's typology), all keyed by the UTC day a message was sent.

A message changes after its send day (delivered, opened, clicked, converted, failed); each
change bumps `Message.updated_at`, so the days to rebuild are the send days of the messages
updated since the watermark. All the days of one rebuild are read together: one GROUP BY per
table over the messages sent on any of them, the day one of the keys (a day of opens reaches
the last month's send days; rescanning each day alone repeats the query's fixed cost, the
debtors' join among it, once per day).
"""

from __future__ import annotations

from datetime import date, datetime

from django.db.models import BooleanField, Count, ExpressionWrapper, Q

from collections_site.operations.models import EngagementDay, SendTimeDay, TypologyDay
from collections_site.operations.rollups.days import days_of, on_days, utc_day
from messaging.models import Message, MessageStatus


def changed_days(since: datetime | None, until: datetime) -> set[date]:
    sent = Message.objects.filter(sent_at__isnull=False, updated_at__lte=until)
    if since is not None:
        sent = sent.filter(updated_at__gt=since)
    return days_of(sent, "sent_at")


def _sent_on(days: list[date]):
    return Message.objects.filter(on_days("sent_at", days)).order_by()


def _arm_of(has_decision: bool, arm: str) -> str:
    return arm if has_decision else ""


def days_rebuild(days: list[date]) -> int:
    """Rewrite the funnel, send-time and typology rows of `days` (the caller holds the
    transaction)."""
    EngagementDay.objects.filter(day__in=days).delete()
    SendTimeDay.objects.filter(day__in=days).delete()
    TypologyDay.objects.filter(day__in=days).delete()
    return _funnel_write(days) + _send_times_write(days) + _typologies_write(days)


def _funnel_write(days: list[date]) -> int:
    """One GROUP BY over the days' sent messages."""
    groups = (
        _sent_on(days)
        .values(
            "creditor_id",
            "debtor__region",
            "channel",
            "variant_id",
            "stage",
            "arm",
            has_decision=ExpressionWrapper(Q(decision__isnull=False), BooleanField()),
            day=utc_day("sent_at"),
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
            g["day"],
            g["creditor_id"],
            g["debtor__region"] or "",
            g["channel"],
            g["variant_id"],
            g["stage"] or "",
            arm,
        )
        row = rows.get(key)
        if row is None:
            rows[key] = row = EngagementDay(
                day=key[0],
                creditor_id=key[1],
                region=key[2],
                channel=key[3],
                variant_id=key[4],
                stage=key[5],
                arm=arm,
            )
        for measure in ("sent", "delivered", "opened", "clicked", "converted", "failed"):
            setattr(row, measure, getattr(row, measure) + g[measure])
    EngagementDay.objects.bulk_create(rows.values(), batch_size=1000)
    return len(rows)


def _send_times_write(days: list[date]) -> int:
    """One GROUP BY over the days' sent messages by the debtor's local weekday and hour at
    sending, which the hand-off stored on each (`Message.sent_local_weekday`,
    `sent_local_hour`, in `messaging.selectors.send_zone`); the outbox's `local_hour` and
    `local_weekday` filters read the same columns, so a cell lists the messages it counts."""
    groups = (
        _sent_on(days)
        .filter(sent_local_weekday__isnull=False, sent_local_hour__isnull=False)
        .values(
            "creditor_id",
            "debtor__region",
            "channel",
            "arm",
            "sent_local_weekday",
            "sent_local_hour",
            has_decision=ExpressionWrapper(Q(decision__isnull=False), BooleanField()),
            day=utc_day("sent_at"),
        )
        .annotate(sent=Count("id"), converted=Count("id", filter=Q(converted_at__isnull=False)))
    )
    rows: dict[tuple, SendTimeDay] = {}
    for g in groups:
        arm = _arm_of(g["has_decision"], g["arm"])
        key = (
            g["day"],
            g["creditor_id"],
            g["debtor__region"] or "",
            g["channel"],
            arm,
            g["sent_local_weekday"],
            g["sent_local_hour"],
        )
        row = rows.get(key)
        if row is None:
            rows[key] = row = SendTimeDay(
                day=key[0],
                creditor_id=key[1],
                region=key[2],
                channel=key[3],
                arm=arm,
                local_weekday=key[5],
                local_hour=key[6],
            )
        row.sent += g["sent"]
        row.converted += g["converted"]
    SendTimeDay.objects.bulk_create(rows.values(), batch_size=1000)
    return len(rows)


def _typologies_write(days: list[date]) -> int:
    groups = (
        _sent_on(days)
        .values(
            "creditor_id",
            "debtor__region",
            "channel",
            "arm",
            "debtor__typology__code",
            has_decision=ExpressionWrapper(Q(decision__isnull=False), BooleanField()),
            day=utc_day("sent_at"),
        )
        .annotate(sent=Count("id"), converted=Count("id", filter=Q(converted_at__isnull=False)))
    )
    rows: dict[tuple, TypologyDay] = {}
    for g in groups:
        arm = _arm_of(g["has_decision"], g["arm"])
        key = (
            g["day"],
            g["creditor_id"],
            g["debtor__region"] or "",
            g["channel"],
            arm,
            g["debtor__typology__code"] or "",
        )
        row = rows.get(key)
        if row is None:
            rows[key] = row = TypologyDay(
                day=key[0],
                creditor_id=key[1],
                region=key[2],
                channel=key[3],
                arm=arm,
                typology=key[5],
            )
        row.sent += g["sent"]
        row.converted += g["converted"]
    TypologyDay.objects.bulk_create(rows.values(), batch_size=1000)
    return len(rows)
