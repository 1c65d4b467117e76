"""Keeping the cockpit's rollups (`collections_site.operations.models`) up to date.

`rollups_refresh()` runs every few minutes as a django-q2 task (`tasks.rollups_refresh_task`,
scheduled by migration) and from `manage.py rollups_refresh`. For each rollup it asks its
source which UTC days changed since the rollup's watermark (a little before it: `OVERLAP`,
so a transaction that committed late is still seen), and rebuilds exactly those days: the
days' rows are deleted and written again from the source in one transaction (up to
`CHUNK_DAYS` days at a time), so a page never reads half a day and a refresh that dies
half-way leaves every day either old or new. Rebuilding rather than adding to counts makes a
refresh idempotent: running it twice, or two at once, gives the same rows.

A rollup is a `Rollup`: its `name` (the `RollupState` row), `changed_days(since, until)` and
`days_rebuild(days)`. The modules next to this one define them; `ROLLUPS` lists them. The
outbox's rollups rebuild all the days of a chunk with one query per table (an ordinary
refresh touches a month of send days: a day's opens of the last month's messages); the
others rebuild a day at a time (`per_day`), their changes reaching a few days.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from collections_site.operations.models import RollupState
from collections_site.operations.rollups import compliance, engagement, outbox, recovery

OVERLAP = timedelta(minutes=10)
"""How far before its watermark a refresh looks again: longer than any transaction that
changes the sources runs."""

CHUNK_DAYS = 31
"""The most days rebuilt in one transaction: an ordinary refresh's month of send days at
once; a full rebuild's year in a dozen transactions, each holding a month of rows."""

WORK_MEM = "32MB"
"""PostgreSQL's `work_mem` inside a rebuild's transaction only (`SET LOCAL`): a month of
sends is grouped in memory (a hash aggregate) where the default 4 MB sorts it on disk."""


@dataclass(frozen=True)
class Rollup:
    name: str
    changed_days: Callable[[datetime | None, datetime], set[date]]
    """The UTC days whose rows may differ, given the source's changes in (since, until];
    `since` None: every day there is data for."""
    days_rebuild: Callable[[list[date]], int]
    """Rewrite the rows of these days from the source (inside a transaction); returns rows
    written."""


def per_day(day_rebuild: Callable[[date], int]) -> Callable[[list[date]], int]:
    """A `days_rebuild` that rewrites one day after another."""

    def days_rebuild(days: list[date]) -> int:
        return sum(day_rebuild(day) for day in days)

    return days_rebuild


ROLLUPS: tuple[Rollup, ...] = (
    Rollup("messages", engagement.changed_days, engagement.days_rebuild),
    Rollup(outbox.NAME, outbox.changed_days, outbox.days_rebuild),
    Rollup("payments", recovery.payments_changed_days, per_day(recovery.payments_day_rebuild)),
    Rollup(
        "placements",
        recovery.placements_changed_days,
        per_day(recovery.placements_day_rebuild),
    ),
    Rollup("statuses", recovery.statuses_changed_days, per_day(recovery.statuses_day_rebuild)),
    Rollup(
        "instalments",
        recovery.instalments_changed_days,
        per_day(recovery.instalments_day_rebuild),
    ),
    Rollup("compliance", compliance.changed_days, per_day(compliance.day_rebuild)),
)


@dataclass(frozen=True)
class RefreshResult:
    name: str
    days: int
    rows: int
    seconds: float


def rollups_refresh(
    *, now: datetime | None = None, days: Iterable[date] | None = None, full: bool = False
) -> list[RefreshResult]:
    """Fold every change since the last refresh into the rollups.

    `days`: rebuild exactly these days (and leave the watermarks). `full`: rebuild every day
    the sources hold (after a restore, or when a rollup's definition changed)."""
    now = now or timezone.now()
    results = []
    for rollup in ROLLUPS:
        started = time.perf_counter()
        if days is not None:
            todo = set(days)
        else:
            state, _ = RollupState.objects.get_or_create(name=rollup.name)
            since = None if full or state.watermark is None else state.watermark - OVERLAP
            todo = rollup.changed_days(since, now)
        rows = 0
        ordered = sorted(todo)
        for start in range(0, len(ordered), CHUNK_DAYS):
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT set_config('work_mem', %s, true)", [WORK_MEM])
                rows += rollup.days_rebuild(ordered[start : start + CHUNK_DAYS])
        seconds = time.perf_counter() - started
        if days is None:
            RollupState.objects.filter(name=rollup.name).update(
                watermark=now,
                refreshed_at=timezone.now(),
                days_refreshed=len(todo),
                seconds=seconds,
            )
        results.append(RefreshResult(rollup.name, len(todo), rows, seconds))
    return results
