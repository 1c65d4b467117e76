"""Keeping the cockpit's rollups (`collections_site.operations.models`) up to date.

`rollups_refresh()` runs every few minutes as a django-q2 task (`tasks.rollups_refresh_task`,
scheduled by migration) and from `manage.py rollups_refresh`. For each rollup it asks its
source which UTC days changed since the rollup's watermark (a little before it: `OVERLAP`,
so a transaction that committed late is still seen), and rebuilds exactly those days: the
day's rows are deleted and written again from the source in one transaction, so a page never
reads half a day and a refresh that dies half-way leaves every day either old or new.
Rebuilding rather than adding to counts makes a refresh idempotent: running it twice, or two
at once, gives the same rows.

A rollup is a `Rollup`: its `name` (the `RollupState` row), `changed_days(since, until)` and
`days_rebuild(days)`. The modules next to this one define them; `ROLLUPS` lists them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from collections_site.operations.models import RollupState
from collections_site.operations.rollups import compliance, engagement, outbox, recovery

OVERLAP = timedelta(minutes=10)
"""How far before its watermark a refresh looks again: longer than any transaction that
changes the sources runs."""


@dataclass(frozen=True)
class Rollup:
    name: str
    changed_days: Callable[[datetime | None, datetime], set[date]]
    """The UTC days whose rows may differ, given the source's changes in (since, until];
    `since` None: every day there is data for."""
    day_rebuild: Callable[[date], int]
    """Rewrite one day's rows from the source (inside a transaction); returns rows written."""


ROLLUPS: tuple[Rollup, ...] = (
    Rollup("messages", engagement.changed_days, engagement.day_rebuild),
    Rollup(outbox.NAME, outbox.changed_days, outbox.day_rebuild),
    Rollup("payments", recovery.payments_changed_days, recovery.payments_day_rebuild),
    Rollup("placements", recovery.placements_changed_days, recovery.placements_day_rebuild),
    Rollup("statuses", recovery.statuses_changed_days, recovery.statuses_day_rebuild),
    Rollup("instalments", recovery.instalments_changed_days, recovery.instalments_day_rebuild),
    Rollup("compliance", compliance.changed_days, compliance.day_rebuild),
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
        for day in sorted(todo):
            with transaction.atomic():
                rows += rollup.day_rebuild(day)
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
