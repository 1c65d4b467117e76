"""Local time: minutes of the day, day types, public holidays, day ordinals."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import date, datetime

from compliance.engine.vocabulary import HolidayLookup, RuleError, Windows

_MIN_DAY = 1
_MAX_DAY = date.max.toordinal() + 1
_FULL_DAY: tuple[tuple[int, int], ...] = ((0, 1440),)


def _intersect(a: Windows, b: Windows) -> Windows:
    out = []
    for s1, e1 in a:
        for s2, e2 in b:
            s, e = max(s1, s2), min(e1, e2)
            if s < e:
                out.append((s, e))
    out.sort()
    return tuple(out)


def _is_holiday(holidays: Collection[date] | Callable[[date], bool], day: date) -> bool:
    if callable(holidays):
        return bool(holidays(day))
    return day in holidays


def _day_type(when: date, holidays: HolidayLookup) -> int:
    """The index in ``DAY_TYPES`` of a local date (or datetime): weekday, Saturday, Sunday, or
    public holiday (only looked up when ``holidays`` is given)."""
    if holidays is not None:
        day = when.date() if isinstance(when, datetime) else when
        if _is_holiday(holidays, day):
            return 3
    wd = when.weekday()
    return 0 if wd < 5 else wd - 4


def parse_hhmm(value: str) -> int:
    """'08:30' -> 510 minutes after midnight; '24:00' is allowed as a window end."""
    hh, sep, mm = value.partition(":")
    if not sep or len(mm) != 2 or not hh.isdigit() or not mm.isdigit():
        raise RuleError(f"time {value!r} must look like HH:MM")
    minute = int(hh) * 60 + int(mm)
    if int(mm) > 59 or minute > 1440:
        raise RuleError(f"time {value!r} is outside the day")
    return minute
