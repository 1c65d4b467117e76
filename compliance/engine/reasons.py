"""Human-readable reasons, only built for blocked decisions."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from functools import lru_cache

from compliance.engine.compiled import _Cap, _Plan, _Quiet
from compliance.engine.history import _EVER, _ROLLING, _period_start
from compliance.engine.rules import Rule
from compliance.engine.values import Reason
from compliance.engine.vocabulary import PERIODS, Windows

_DAY_LABELS = ("weekday", "Saturday", "Sunday", "public holiday")
_TRIGGER_LABELS = {
    "attempts": "a contact attempt",
    "contacts": "a contact",
    "conversations": "a live conversation",
}


def _reason(rule: Rule, detail: str) -> Reason:
    return Reason(rule.code, f"{detail}. Rule: {rule.title}", rule.citation.text, rule.citation.url)


_HHMM = tuple(f"{m // 60:02d}:{m % 60:02d}" for m in range(1441))


def _hhmm(minute: int) -> str:
    return _HHMM[minute]


@lru_cache(maxsize=1024)
def _fmt_windows(windows: Windows) -> str:
    return ", ".join(f"{_HHMM[s]}-{_HHMM[e]}" for s, e in windows)


def _window_reasons(
    plan: _Plan, channel: str, dtype: int, minute: int, flags: Collection[str]
) -> list[Reason]:
    rules = list(plan.window_rules)
    if flags:
        rules += [r for wf, r in plan.cond_windows if wf <= flags]
    out = []
    label = _DAY_LABELS[dtype]
    for r in rules:
        wins = r.days[dtype]
        inside = False
        for s, e in wins:
            if s <= minute < e:
                inside = True
                break
        if inside:
            continue
        if wins:
            detail = (
                f"{channel} at {_hhmm(minute)} on a {label} is outside the allowed hours "
                f"({_fmt_windows(wins)}, local time)"
            )
        else:
            detail = f"no {channel} contact on a {label}"
        out.append(_reason(r, detail))
    if not out:  # windows intersect to nothing although each rule alone would allow
        names = ", ".join(r.code for r in rules)
        detail = (
            f"{channel} at {_hhmm(minute)} on a {label}: the allowed hours of {names} "
            "do not overlap"
        )
        out.append(_reason(rules[0], detail))
    return out


def _cap_reason(cap: _Cap, channel: str, day: int, n: int) -> Reason:
    r = cap.rule
    start = date.fromordinal(_period_start(cap, day)).isoformat()
    if cap.period == _ROLLING:
        span = f"in the {cap.days} days {start}..{date.fromordinal(day).isoformat()}"
    elif cap.period == _EVER:
        span = "so far"
    else:
        span = f"in the {PERIODS[cap.period].replace('_', ' ')} from {start}"
    counted = "/".join(sorted(cap.chans))
    what = r.counts if n != 1 else r.counts[:-1]
    detail = (
        f"{n} {what} ({counted}) {span} reached the limit of {cap.max_count}; "
        f"no further {channel} now"
    )
    return _reason(r, detail)


def _quiet_reason(q: _Quiet, channel: str, last: int) -> Reason:
    ends = date.fromordinal(last + q.days - 1)
    detail = (
        f"no {channel} until after {ends.isoformat()}: {_TRIGGER_LABELS[q.rule.trigger]} on "
        f"{date.fromordinal(last).isoformat()} started a {q.days}-day quiet period (day 1)"
    )
    return _reason(q.rule, detail)


def _permanent_reasons(plan: _Plan, channel: str, flags: Collection[str]) -> list[Reason] | None:
    """Reasons that no amount of waiting inside this epoch can lift."""
    out: list[Reason] = []
    for r in plan.forbidden:
        out.append(_reason(r, f"{channel} is not allowed in this region"))
    for flag, r in plan.consent:
        if flag not in flags:
            out.append(_reason(r, f"{channel} needs recorded consent (flag {flag})"))
    if flags:
        for wf, r in plan.blocks:
            if wf <= flags:
                out.append(_reason(r, f"debtor flag {' + '.join(sorted(wf))} blocks {channel}"))
    return out or None
