"""The outbox's status rollup: `OutboxStatusDay`, messages by status, keyed by the UTC day a
message was created.

A message's creation day never changes, and every status change bumps `Message.updated_at`
(`Message.transition`, the dispatcher's bulk updates), so the days to rebuild are the
creation days of the messages updated since the watermark.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db.models import Count

from collections_site.operations.models import OutboxStatusDay
from collections_site.operations.rollups.days import days_of, on_days, utc_day
from messaging.models import Message

NAME = "outbox"
"""Its `RollupState.name`."""


def changed_days(since: datetime | None, until: datetime) -> set[date]:
    changed = Message.objects.filter(updated_at__lte=until)
    if since is not None:
        changed = changed.filter(updated_at__gt=since)
    return days_of(changed, "created_at")


def days_rebuild(days: list[date]) -> int:
    """Rewrite the rows of `days`: one GROUP BY over the messages created on any of them
    (the caller holds the transaction)."""
    OutboxStatusDay.objects.filter(day__in=days).delete()
    groups = (
        Message.objects.filter(on_days("created_at", days))
        .order_by()
        .values("creditor_id", "debtor__region", "channel", "status", day=utc_day("created_at"))
        .annotate(n=Count("id"))
    )
    rows = [
        OutboxStatusDay(
            day=g["day"],
            creditor_id=g["creditor_id"],
            region=g["debtor__region"] or "",
            channel=g["channel"],
            status=g["status"],
            messages=g["n"],
        )
        for g in groups
    ]
    OutboxStatusDay.objects.bulk_create(rows, batch_size=1000)
    return len(rows)
