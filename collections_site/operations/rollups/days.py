"""UTC days, the rollups' unit."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from django.db.models import Q, QuerySet
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


def day_runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """`days` as runs of consecutive days, (first, last) each, in order."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def on_days(field: str, days: Iterable[date]) -> Q:
    """Datetime `field` falls on one of the UTC `days`: one range condition per run of
    consecutive days, so an index on `field` reads each run in one range scan."""
    runs = day_runs(days)
    if not runs:
        return Q(pk__in=[])
    match = Q()
    for first, last in runs:
        match |= Q(**{f"{field}__gte": day_bounds(first)[0], f"{field}__lt": day_bounds(last)[1]})
    return match


def utc_day(field: str) -> TruncDate:
    """The UTC day of datetime `field`, for grouping the rows of several days at once."""
    return TruncDate(field, tzinfo=UTC)
