"""Compilation: rules, nearest region first, into per-channel, per-epoch plans.

``compile_rules`` resolves fallbacks and validity dates once, so ``evaluate`` reads a plan of
minutes-of-day integers and precompiled caps instead of testing rules one by one.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date

from compliance.engine.calendar import _FULL_DAY, _MAX_DAY, _MIN_DAY, _intersect
from compliance.engine.rules import (
    CapRule,
    DisclosureRule,
    FlagRule,
    PermissionRule,
    QuietRule,
    Rule,
    WindowRule,
)
from compliance.engine.vocabulary import CHANNELS, EVENT_KINDS, PERIODS, Windows


class _Cap:
    """A cap precompiled for the hot loop."""

    __slots__ = (
        "after_conv",
        "chans",
        "days",
        "max_count",
        "outcomes",
        "per_debt",
        "period",
        "rule",
        "when_flags",
    )

    def __init__(self, rule: CapRule) -> None:
        self.rule = rule
        self.max_count = rule.max_count
        self.period = PERIODS.index(rule.period)
        self.days = rule.days
        self.chans = rule.count_channels
        self.outcomes = EVENT_KINDS[rule.counts]
        self.per_debt = rule.scope == "debt"
        self.after_conv = rule.after_first_conversation
        self.when_flags = rule.when_flags


class _Quiet:
    """A quiet period precompiled for the hot loop."""

    __slots__ = ("chans", "days", "outcomes", "per_debt", "rule", "when_flags")

    def __init__(self, rule: QuietRule) -> None:
        self.rule = rule
        self.days = rule.days
        self.chans = rule.trigger_channels
        self.outcomes = EVENT_KINDS[rule.trigger]
        self.per_debt = rule.scope == "debt"
        self.when_flags = rule.when_flags


class _Plan:
    """Everything that restricts one channel during one validity epoch [start, end)."""

    __slots__ = (
        "blocks",
        "caps",
        "cond_windows",
        "consent",
        "end",
        "forbidden",
        "holiday_sensitive",
        "permissions",
        "quiets",
        "start",
        "window_rules",
        "windows",
    )

    def __init__(self, channel: str, rules: list[Rule], start: int, end: int) -> None:
        self.start = start
        self.end = end
        present = {(r.kind, r.when_flags) for r in rules if not r.fallback}
        active = [r for r in rules if not r.fallback or (r.kind, r.when_flags) not in present]
        self.blocks: tuple[tuple[frozenset[str], FlagRule], ...] = tuple(
            (r.when_flags, r) for r in active if isinstance(r, FlagRule)
        )
        perms = [r for r in active if isinstance(r, PermissionRule)]
        self.permissions = tuple(perms)
        self.forbidden = tuple(r for r in perms if r.mode == "forbidden")
        self.consent = tuple((f"consent_{channel}", r) for r in perms if r.mode == "consent")
        wrules = [r for r in active if isinstance(r, WindowRule)]
        self.window_rules = tuple(r for r in wrules if not r.when_flags)
        self.cond_windows = tuple((r.when_flags, r) for r in wrules if r.when_flags)
        combined: list[Windows] = [_FULL_DAY] * 4
        for r in self.window_rules:
            combined = [_intersect(a, b) for a, b in zip(combined, r.days, strict=True)]
        self.windows: tuple[Windows, ...] = tuple(combined)
        self.holiday_sensitive = any(r.days[3] != r.days[t] for r in wrules for t in range(3))
        self.caps = tuple(_Cap(r) for r in active if isinstance(r, CapRule))
        self.quiets = tuple(_Quiet(r) for r in active if isinstance(r, QuietRule))


class _ChannelPlans:
    """The plans of one channel, one per validity epoch, found by date ordinal."""

    __slots__ = ("disclosures", "plans", "single", "starts")

    def __init__(self, plans: list[_Plan], disclosures: tuple[DisclosureRule, ...]) -> None:
        self.plans = plans
        self.starts = [p.start for p in plans]
        self.single = plans[0] if len(plans) == 1 else None
        self.disclosures = disclosures

    def at(self, day: int) -> _Plan:
        return self.single or self.plans[bisect_right(self.starts, day) - 1]


@dataclass(frozen=True, slots=True)
class EffectiveRules:
    """A region's compiled rule set (own + ancestors + default fallbacks), ready to evaluate.

    Build it with ``compile_rules`` once per region and rule change; it is immutable and safe
    to share between threads.
    """

    region: str
    rules: tuple[Rule, ...]
    _plans: dict[str, _ChannelPlans] = field(repr=False, compare=False)

    def rules_for(self, channel: str, on: date | None = None) -> tuple[Rule, ...]:
        """The rules that apply to a channel on a date, after fallback resolution."""
        cp = self._plans[channel]
        plan = cp.at(on.toordinal()) if on else cp.plans[-1]
        out: list[Rule] = [r for _, r in plan.blocks]
        out += plan.permissions
        out += plan.window_rules
        out += [r for _, r in plan.cond_windows]
        out += [c.rule for c in plan.caps] + [q.rule for q in plan.quiets]
        return tuple(out)


def compile_rules(rules: Iterable[Rule], *, region: str = "") -> EffectiveRules:
    """Precompile rules, nearest region first, into per-channel plans for ``evaluate``.

    Validity dates split time into epochs; each epoch gets its own plan so that ``evaluate``
    never has to test dates rule by rule. Fallback rules are resolved per epoch and channel.
    """
    ordered = tuple(rules)
    bounds: set[int] = set()
    for r in ordered:
        if r.valid_from:
            bounds.add(r.valid_from.toordinal())
        if r.valid_to:
            bounds.add(r.valid_to.toordinal() + 1)
    starts = [_MIN_DAY, *sorted(b for b in bounds if _MIN_DAY < b < _MAX_DAY)]
    ends = [*starts[1:], _MAX_DAY]
    plans: dict[str, _ChannelPlans] = {}
    for channel in CHANNELS:
        mine = [r for r in ordered if channel in r.channels]
        epoch_plans = []
        for start, end in zip(starts, ends, strict=True):
            on = date.fromordinal(start)
            valid = [r for r in mine if not isinstance(r, DisclosureRule) and r.valid_on(on)]
            epoch_plans.append(_Plan(channel, valid, start, end))
        disclosures = tuple(r for r in mine if isinstance(r, DisclosureRule))
        plans[channel] = _ChannelPlans(epoch_plans, disclosures)
    return EffectiveRules(region=region, rules=ordered, _plans=plans)


def _windows_for(plan: _Plan, dtype: int, flags: Collection[str]) -> Windows:
    wins = plan.windows[dtype]
    for wf, rule in plan.cond_windows:
        if wf <= flags:
            wins = _intersect(wins, rule.days[dtype])
    return wins
