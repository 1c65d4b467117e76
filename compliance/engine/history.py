"""Frequency caps and quiet periods: what the contact history counts, and when it lifts."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from datetime import date

from compliance.engine.calendar import _MIN_DAY
from compliance.engine.compiled import _Cap, _Plan, _Quiet
from compliance.engine.values import Contact

_ROLLING, _CAL_DAY, _CAL_WEEK, _CAL_MONTH, _EVER = range(5)  # indexes into PERIODS


def _period_start(cap: _Cap, day: int) -> int:
    p = cap.period
    if p == _ROLLING:
        return day - cap.days + 1
    if p == _CAL_DAY:
        return day
    if p == _CAL_WEEK:
        return day - (day - 1) % 7  # ordinal 1 (0001-01-01) is a Monday
    if p == _CAL_MONTH:
        return day - date.fromordinal(day).day + 1
    return _MIN_DAY


def _count(cap: _Cap, day: int, history: Sequence[Contact], debt_id: Hashable | None) -> list[int]:
    """The local days of the history events the cap counts on ``day`` (empty if inactive)."""
    lo = _period_start(cap, day)
    chans = cap.chans
    outs = cap.outcomes
    if cap.per_debt and debt_id is not None:
        days = [
            c.day
            for c in history
            if lo <= c.day <= day
            and c.channel in chans
            and c.outcome in outs
            and (c.debt_id is None or c.debt_id == debt_id)
        ]
        if days and cap.after_conv:
            conversed = any(
                c.outcome == "conversation"
                and c.day <= day
                and (c.debt_id is None or c.debt_id == debt_id)
                for c in history
            )
            return days if conversed else []
        return days
    days = [
        c.day for c in history if lo <= c.day <= day and c.channel in chans and c.outcome in outs
    ]
    if days and cap.after_conv:
        conversed = any(c.outcome == "conversation" and c.day <= day for c in history)
        return days if conversed else []
    return days


def _last_trigger(q: _Quiet, day: int, history: Sequence[Contact], debt_id: Hashable | None) -> int:
    """The latest trigger day whose quiet period covers ``day`` (0 if none)."""
    lo = day - q.days + 1
    chans = q.chans
    outs = q.outcomes
    per_debt = q.per_debt and debt_id is not None
    last = 0
    for c in history:
        cd = c.day
        if (
            lo <= cd <= day
            and cd > last
            and c.outcome in outs
            and c.channel in chans
            and not (per_debt and c.debt_id is not None and c.debt_id != debt_id)
        ):
            last = cd
    return last


def _date_jump(
    plan: _Plan,
    day: int,
    history: Sequence[Contact],
    flags: Collection[str],
    debt_id: Hashable | None,
) -> int:
    """0 if caps and quiet periods allow ``day``, else the next day worth trying."""
    jump = 0
    for cap in plan.caps:
        if cap.when_flags and not cap.when_flags <= flags:
            continue
        counted = _count(cap, day, history, debt_id)
        n = len(counted)
        if n < cap.max_count:
            continue
        p = cap.period
        if p == _ROLLING:
            counted.sort()
            nxt = counted[n - cap.max_count] + cap.days
        elif p == _CAL_DAY:
            nxt = day + 1
        elif p == _CAL_WEEK:
            nxt = _period_start(cap, day) + 7
        elif p == _CAL_MONTH:
            d = date.fromordinal(day)
            nxt = date(d.year + d.month // 12, d.month % 12 + 1, 1).toordinal()
        else:
            nxt = plan.end  # an "ever" cap only lifts when the rule stops applying
        jump = max(jump, nxt)
    for q in plan.quiets:
        if q.when_flags and not q.when_flags <= flags:
            continue
        last = _last_trigger(q, day, history, debt_id)
        if last:
            jump = max(jump, last + q.days)
    return jump
