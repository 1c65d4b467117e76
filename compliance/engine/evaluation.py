"""Evaluation: may this channel be used at this local time, and which texts must a message carry?"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from datetime import date, datetime

from compliance.engine.calendar import _MAX_DAY, _day_type
from compliance.engine.compiled import EffectiveRules, _ChannelPlans, _Plan, _windows_for
from compliance.engine.history import _count, _date_jump, _last_trigger
from compliance.engine.reasons import (
    _cap_reason,
    _permanent_reasons,
    _quiet_reason,
    _window_reasons,
)
from compliance.engine.values import Contact, Decision, Disclosure, Reason
from compliance.engine.vocabulary import SEARCH_DAYS, HolidayLookup

_NO_FLAGS: frozenset[str] = frozenset()


def evaluate(
    rules: EffectiveRules,
    channel: str,
    local_dt: datetime,
    history: Sequence[Contact] = (),
    flags: frozenset[str] | set[str] = _NO_FLAGS,
    holidays: HolidayLookup = None,
    debt_id: Hashable | None = None,
) -> Decision:
    """Decide whether ``channel`` may be used at ``local_dt`` (naive, debtor's wall clock).

    ``history`` is the earlier outbound contacts (caps and quiet periods count them by local
    date); ``flags`` the debtor's flags; ``holidays`` the region's public holidays; ``debt_id``
    scopes per-debt caps (None: every contact counts). Every failing rule gives a reason.
    """
    cp = _channel_plans(rules, channel)
    day = local_dt.toordinal()
    plan = cp.single or cp.at(day)
    reasons: list[Reason] | None = None

    # Permanent blocks: flags, forbidden channels, missing consent.
    if plan.forbidden or plan.consent or (flags and plan.blocks):
        reasons = _permanent_reasons(plan, channel, flags)

    # Contact windows for the day type.
    minute, dtype, inside = _window(plan, local_dt, flags, holidays)
    if not inside:
        reasons = reasons or []
        reasons += _window_reasons(plan, channel, dtype, minute, flags)

    # Caps and quiet periods, counted over whole local days.
    counted = _history_reasons(plan, channel, day, history, flags, debt_id)
    if counted:
        reasons = (reasons or []) + counted

    if not reasons:
        return Decision(True, (), local_dt)
    nxt = _next_allowed(cp, channel, day, minute, history, flags, holidays, debt_id, not counted)
    return Decision(False, tuple(reasons), nxt)


def allows(
    rules: EffectiveRules,
    channel: str,
    local_dt: datetime,
    history: Sequence[Contact] = (),
    flags: frozenset[str] | set[str] = _NO_FLAGS,
    holidays: HolidayLookup = None,
    debt_id: Hashable | None = None,
) -> bool:
    """``evaluate(...).allowed``, without the reasons and the next allowed time: the answer
    for callers that only filter (the planner's candidates), stopping at the first rule that
    blocks."""
    cp = _channel_plans(rules, channel)
    day = local_dt.toordinal()
    plan = cp.single or cp.at(day)
    if (plan.forbidden or plan.consent or (flags and plan.blocks)) and _blocked_for_good(
        plan, channel, flags
    ):
        return False
    if not _window(plan, local_dt, flags, holidays)[2]:
        return False
    return not _history_reasons(plan, channel, day, history, flags, debt_id, first=True)


def _channel_plans(rules: EffectiveRules, channel: str) -> _ChannelPlans:
    try:
        return rules._plans[channel]
    except KeyError:
        raise ValueError(f"unknown channel {channel!r}") from None


def _window(
    plan: _Plan, local_dt: datetime, flags: frozenset[str] | set[str], holidays: HolidayLookup
) -> tuple[int, int, bool]:
    """(minute of the day, day type, whether that minute is inside one of its windows)."""
    minute = local_dt.hour * 60 + local_dt.minute
    dtype = _day_type(local_dt, holidays if plan.holiday_sensitive else None)
    wins = _windows_for(plan, dtype, flags) if plan.cond_windows and flags else plan.windows[dtype]
    for s, e in wins:
        if s <= minute < e:
            return minute, dtype, True
    return minute, dtype, False


def _history_reasons(
    plan: _Plan,
    channel: str,
    day: int,
    history: Sequence[Contact],
    flags: Collection[str],
    debt_id: Hashable | None,
    first: bool = False,
) -> list[Reason]:
    """The caps reached and quiet periods running on local ``day`` (empty: the day is clear);
    ``first``: only the first of them."""
    reasons: list[Reason] = []
    for cap in plan.caps:
        if cap.when_flags and not cap.when_flags <= flags:
            continue
        n = len(_count(cap, day, history, debt_id))
        if n >= cap.max_count:
            reasons.append(_cap_reason(cap, channel, day, n))
            if first:
                return reasons
    for q in plan.quiets:
        if q.when_flags and not q.when_flags <= flags:
            continue
        last = _last_trigger(q, day, history, debt_id)
        if last:
            reasons.append(_quiet_reason(q, channel, last))
            if first:
                return reasons
    return reasons


def required_disclosures(
    rules: EffectiveRules,
    channel: str,
    language: str,
    *,
    on: date | None = None,
    initial: bool = False,
) -> list[Disclosure]:
    """The texts messaging must add to a message on ``channel`` in ``language``.

    ``initial`` selects the initial-communication texts (e.g. the US mini-Miranda) instead of
    the subsequent ones; ``always`` texts come either way. One text per topic, nearest region
    first; when a text does not exist in ``language`` its first language is returned (the
    ``language`` field says which), because a required text must never be dropped.
    """
    cp = _channel_plans(rules, channel)
    skip = "subsequent" if initial else "initial"
    seen: set[str] = set()
    out: list[Disclosure] = []
    for r in cp.disclosures:
        if r.topic in seen or r.when == skip or (on is not None and not r.valid_on(on)):
            continue
        seen.add(r.topic)
        texts = dict(r.texts)
        lang = language if language in texts else r.texts[0][0]
        out.append(
            Disclosure(
                topic=r.topic,
                code=r.code,
                language=lang,
                text=texts[lang],
                when=r.when,
                citation_text=r.citation.text,
                citation_url=r.citation.url,
            )
        )
    return out


def _blocked_for_good(plan: _Plan, channel: str, flags: Collection[str]) -> bool:
    if plan.forbidden:
        return True
    for flag, _ in plan.consent:
        if flag not in flags:
            return True
    if flags:
        for wf, _ in plan.blocks:
            if wf <= flags:
                return True
    return False


def _next_allowed(
    cp: _ChannelPlans,
    channel: str,
    day: int,
    minute: int,
    history: Sequence[Contact],
    flags: Collection[str],
    holidays: HolidayLookup,
    debt_id: Hashable | None,
    first_day_clear: bool = False,
) -> datetime | None:
    """Earliest local time >= (day, minute) that every rule allows, or None.

    ``first_day_clear`` says the caller already found caps and quiet periods clear on ``day``.
    """
    limit = day + SEARCH_DAYS
    first = day
    while day <= limit:
        plan = cp.at(day)
        if _blocked_for_good(plan, channel, flags):
            if plan.end >= _MAX_DAY:
                return None
            day, minute = max(plan.end, day + 1), 0
            continue
        if not (first_day_clear and day == first):
            jump = _date_jump(plan, day, history, flags, debt_id)
            if jump:
                day, minute = max(jump, day + 1), 0  # always move forward
                continue
        d = date.fromordinal(day)
        dtype = _day_type(d, holidays if plan.holiday_sensitive else None)
        wins = _windows_for(plan, dtype, flags) if plan.cond_windows else plan.windows[dtype]
        for s, e in wins:
            if e > minute:
                m = max(s, minute)
                return datetime(d.year, d.month, d.day, m // 60, m % 60)
        day, minute = day + 1, 0
    return None
