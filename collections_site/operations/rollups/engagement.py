"""The outbox's rollups: `EngagementDay` (the funnel), `SendTimeDay` (local send time) and
`TypologyDay` (conversion by the debtor's typology), all keyed by the UTC day a message was sent.

A message changes after its send day (delivered, opened, clicked, converted, failed); each
change bumps `Message.updated_at`, so the days to rebuild are the send days of the messages
updated since the watermark. All the days of one rebuild are read together, in one GROUP BY
over the messages sent on any of them by every key of the three tables (the day among them),
folded into each table's rows here: a day of opens reaches the last month's send days, and
rescanning each day, or each table, alone repeats the scan and the debtors' join.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q, Value
from django.db.models.functions import Coalesce

from collections_site.operations.models import EngagementDay, SendTimeDay, TypologyDay
from collections_site.operations.rollups.days import days_of, on_days, utc_day
from messaging.models import Message, MessageStatus
from messaging.selectors import funnel_counts


def changed_days(since: datetime | None, until: datetime) -> set[date]:
    sent = Message.objects.filter(sent_at__isnull=False, updated_at__lte=until)
    if since is not None:
        sent = sent.filter(updated_at__gt=since)
    return days_of(sent, "sent_at")


def _sent_on(days: list[date]):
    return Message.objects.filter(on_days("sent_at", days)).order_by()


def _arm_of(has_decision: bool, arm: str) -> str:
    return arm if has_decision else ""


_FUNNEL = ("sent", "delivered", "opened", "clicked", "converted", "failed")


def days_rebuild(days: list[date]) -> int:
    """Rewrite the funnel, send-time and typology rows of `days` (the caller holds the
    transaction)."""
    EngagementDay.objects.filter(day__in=days).delete()
    SendTimeDay.objects.filter(day__in=days).delete()
    TypologyDay.objects.filter(day__in=days).delete()
    funnel: dict[tuple, EngagementDay] = {}
    send_times: dict[tuple, SendTimeDay] = {}
    typologies: dict[tuple, TypologyDay] = {}
    for g in _groups(days):
        day, creditor, region, channel = g["day"], g["creditor_id"], g["region"], g["channel"]
        arm = _arm_of(g["has_decision"], g["arm"])
        key = (day, creditor, region, channel, g["variant_id"], g["stage"] or "", arm)
        row = _row(funnel, key, EngagementDay, variant_id=key[4], stage=key[5], arm=arm)
        for measure in _FUNNEL:
            setattr(row, measure, getattr(row, measure) + g[measure])
        # The local send time the hand-off stored (`messaging.selectors.send_zone`): the
        # outbox's `local_hour` and `local_weekday` filters read the same columns, so a
        # heatmap cell lists the messages it counts.
        if g["local_weekday"] is not None and g["local_hour"] is not None:
            key = (day, creditor, region, channel, arm, g["local_weekday"], g["local_hour"])
            cell = _row(send_times, key, SendTimeDay, arm=arm, local_weekday=key[5],
                        local_hour=key[6])  # fmt: skip
            cell.sent += g["sent"]
            cell.converted += g["converted"]
        key = (day, creditor, region, channel, arm, g["typology"] or "")
        typology = _row(typologies, key, TypologyDay, arm=arm, typology=key[5])
        typology.sent += g["sent"]
        typology.converted += g["converted"]
    for model, rows in (
        (EngagementDay, funnel),
        (SendTimeDay, send_times),
        (TypologyDay, typologies),
    ):
        model.objects.bulk_create(rows.values(), batch_size=1000)
    return len(funnel) + len(send_times) + len(typologies)


def _row(rows: dict[tuple, Any], key: tuple, model: type, **fields: Any) -> Any:
    """The rollup row of `key` (day, creditor, region, channel first), created on first use."""
    row = rows.get(key)
    if row is None:
        day, creditor, region, channel = key[:4]
        row = rows[key] = model(
            day=day, creditor_id=creditor, region=region, channel=channel, **fields
        )
    return row


def _groups(days: list[date]):
    """The days' sent messages counted by every key of the three tables."""
    return (
        _sent_on(days)
        .values(
            "creditor_id",
            "channel",
            "variant_id",
            "stage",
            "arm",
            day=utc_day("sent_at"),
            region=Coalesce("debtor__region", Value("")),
            typology=F("debtor__typology__code"),
            local_weekday=F("sent_local_weekday"),
            local_hour=F("sent_local_hour"),
            has_decision=ExpressionWrapper(Q(decision__isnull=False), BooleanField()),
        )
        .annotate(
            **funnel_counts(),
            failed=Count("id", filter=Q(status=MessageStatus.FAILED)),
        )
    )
