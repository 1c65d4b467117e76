"""UTC days, the rollups' unit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.db.models import QuerySet
from django.db.models.functions import TruncDate


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of UTC day `day`."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def days_of(queryset: QuerySet, field: str) -> set[date]:
    """The distinct UTC days of datetime `field` over `queryset` (one query)."""
    return set(
        queryset.order_by()
        .annotate(_day=TruncDate(field, tzinfo=UTC))
        .values_list("_day", flat=True)
        .distinct()
    )
