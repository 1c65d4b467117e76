"""The compliance rule engine: may this debtor be contacted on this channel at this local time?

Pure standard-library Python (no Django, no ``holidays``): plain values in, plain values out, so
the hard logic is testable in microseconds and reusable offline. ``compliance.packs`` builds rule
objects from the shipped JSON packs; ``compliance.services`` (Django) builds them from the
database, converts UTC to the debtor's wall clock, reads the contact ledger and audits decisions.

Flow: build rule objects (``WindowRule``, ``CapRule``, ``QuietRule``, ``FlagRule``,
``PermissionRule``, ``DisclosureRule``) for a region and all its ancestors plus the default pack,
``compile_rules`` them once into ``EffectiveRules`` (per-channel, per-validity-epoch plans with
minutes-of-day integers), then call ``evaluate`` as often as needed and ``required_disclosures``
when composing a message. Strictest wins: windows intersect, every cap applies, any block blocks.
See docs/compliance-engine.md.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any, ClassVar

CHANNELS: tuple[str, ...] = ("call", "sms", "email", "letter", "whatsapp")
"""Every channel the platform can contact a debtor through."""

OUTCOMES: tuple[str, ...] = (
    "no_answer",
    "voicemail",
    "conversation",
    "delivered",
    "busy",
    "failed",
)
"""Outcomes of a past outbound contact; ``busy`` and ``failed`` mean it never connected."""

EVENT_KINDS: dict[str, frozenset[str]] = {
    # Anything placed that reached the network: counts unanswered calls, not busy/failed ones.
    "attempts": frozenset({"no_answer", "voicemail", "conversation", "delivered"}),
    # Contact actually made with the debtor (ON "contact", AU "contact actually made").
    "contacts": frozenset({"voicemail", "conversation", "delivered"}),
    # A live telephone conversation only.
    "conversations": frozenset({"conversation"}),
}
"""Which history outcomes a cap or quiet period counts, by the name used in rule data."""

FLAGS: frozenset[str] = frozenset(
    {
        "opted_out_call",
        "opted_out_sms",
        "opted_out_email",
        "opted_out_letter",
        "opted_out_whatsapp",
        "cease_communication",
        "disputed",
        "attorney_represented",
        "workplace_number",
        "employer_prohibits_contact",
        "cell_phone",
        "statute_barred",
        "consumer_stated_will_not_pay_statute_barred",
        "deceased",
        "bankruptcy",
        "vulnerable",
        "consent_call",
        "consent_sms",
        "consent_email",
        "consent_letter",
        "consent_whatsapp",
    }
)
"""Debtor flags the rules may test. ``consent_<channel>`` records consent for that channel."""

DAY_TYPES: tuple[str, ...] = ("weekday", "saturday", "sunday", "holiday")
"""Day types of a contact window, in the order ``WindowRule.days`` stores them."""

PERIODS: tuple[str, ...] = (
    "rolling_days",
    "calendar_day",
    "calendar_week",
    "calendar_month",
    "ever",
)
"""Counting periods of a frequency cap (``rolling_days`` uses ``CapRule.days``)."""

PERMISSION_MODES: tuple[str, ...] = ("allowed", "consent", "forbidden")
"""``allowed`` states that the region permits the channel (so no fallback applies);
``consent`` requires the ``consent_<channel>`` flag; ``forbidden`` never allows it."""

DISCLOSURE_WHEN: tuple[str, ...] = ("always", "initial", "subsequent")
"""When a disclosure is due: every message, the initial communication, or later ones."""

SEARCH_DAYS = 400
"""How far ``evaluate`` searches forward for ``next_allowed_at`` before giving up (None)."""

_CHANNEL_SET = frozenset(CHANNELS)
_OUTCOME_SET = frozenset(OUTCOMES)
_DAY_LABELS = ("weekday", "Saturday", "Sunday", "public holiday")
_TRIGGER_LABELS = {
    "attempts": "a contact attempt",
    "contacts": "a contact",
    "conversations": "a live conversation",
}
_ROLLING, _CAL_DAY, _CAL_WEEK, _CAL_MONTH, _EVER = range(5)
_MIN_DAY = 1
_MAX_DAY = date.max.toordinal() + 1
_FULL_DAY: tuple[tuple[int, int], ...] = ((0, 1440),)
_NO_FLAGS: frozenset[str] = frozenset()

Windows = tuple[tuple[int, int], ...]
"""Allowed [start, end) intervals in minutes after local midnight; start inside, end blocked."""

HolidayLookup = Collection[date] | Callable[[date], bool] | None
"""Holidays as a set of dates, a date -> bool predicate, or None for "no holidays"."""


class RuleError(ValueError):
    """A rule's data is invalid (unknown channel, window outside the day, cap below 1, ...)."""


# --------------------------------------------------------------------------------------------
# Values in and out
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Citation:
    """Where a rule comes from: a short legal reference and a URL to read it."""

    text: str
    url: str


@dataclass(frozen=True, slots=True)
class Contact:
    """One earlier outbound contact with the debtor, in the debtor's local wall-clock time.

    ``debt_id`` scopes per-debt caps: a contact with ``debt_id=None`` counts for every debt.
    """

    channel: str
    local_dt: datetime
    outcome: str
    debt_id: Hashable | None = None
    day: int = field(init=False, repr=False, compare=False)  # proleptic ordinal of local_dt

    def __post_init__(self) -> None:
        if self.channel not in _CHANNEL_SET:
            raise ValueError(f"unknown channel {self.channel!r}")
        if self.outcome not in _OUTCOME_SET:
            raise ValueError(f"unknown outcome {self.outcome!r}")
        object.__setattr__(self, "day", self.local_dt.toordinal())


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a contact is blocked: the rule's code, a human message and the rule's citation."""

    code: str
    message: str
    citation_text: str
    citation_url: str

    def as_dict(self) -> dict[str, str]:
        """JSON-ready form, as printed by the case runner and stored in the audit row."""
        return {
            "code": self.code,
            "message": self.message,
            "citation_text": self.citation_text,
            "citation_url": self.citation_url,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's answer for one (channel, local time) question.

    ``next_allowed_at`` is the asked time when allowed, the earliest later local time at which
    this channel would be allowed (given the same history and flags), or None when no such time
    exists within ``SEARCH_DAYS`` (e.g. a flag or permission blocks the channel for good).
    """

    allowed: bool
    reasons: tuple[Reason, ...]
    next_allowed_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"decision": "allow"|"block", "reasons": [...], ...}``."""
        nxt = self.next_allowed_at
        return {
            "decision": "allow" if self.allowed else "block",
            "reasons": [r.as_dict() for r in self.reasons],
            "next_allowed_at": nxt.isoformat(timespec="minutes") if nxt else None,
        }


@dataclass(frozen=True, slots=True)
class Disclosure:
    """A text that messaging must add to a message on a channel (opt-out, debt-collector...)."""

    topic: str
    code: str
    language: str
    text: str
    when: str
    citation_text: str
    citation_url: str


# --------------------------------------------------------------------------------------------
# Rules (data)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """Fields every rule kind shares.

    ``channels`` is the scope the rule restricts; ``valid_from``/``valid_to`` are inclusive local
    dates (None = open); ``when_flags`` makes the rule apply only when the debtor has all those
    flags; ``fallback`` marks a default-pack rule that applies only when no non-fallback rule of
    the same kind and ``when_flags`` covers the channel on that date; ``region`` is the pack the
    rule came from (informational).
    """

    kind: ClassVar[str] = "rule"

    code: str
    title: str
    channels: frozenset[str]
    citation: Citation
    valid_from: date | None = None
    valid_to: date | None = None
    when_flags: frozenset[str] = frozenset()
    fallback: bool = False
    region: str = ""

    def valid_on(self, day: date) -> bool:
        """True if the rule is in force on this local date."""
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to
        )


def _check_common(rule: Rule) -> None:
    if not rule.code:
        raise RuleError("rule without a code")
    if not rule.channels or not rule.channels <= _CHANNEL_SET:
        raise RuleError(f"{rule.code}: channels must be a non-empty subset of {CHANNELS}")
    bad = rule.when_flags - FLAGS
    if bad:
        raise RuleError(f"{rule.code}: unknown flags {sorted(bad)}")
    if rule.valid_from and rule.valid_to and rule.valid_to < rule.valid_from:
        raise RuleError(f"{rule.code}: valid_to is before valid_from")
    if not rule.citation.text or not rule.citation.url:
        raise RuleError(f"{rule.code}: a citation needs text and url")


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowRule(Rule):
    """Allowed contact windows per day type (weekday, Saturday, Sunday, public holiday).

    ``days`` holds four tuples of [start, end) minute intervals in ``DAY_TYPES`` order; an empty
    tuple means no contact at all on that day type.
    """

    kind: ClassVar[str] = "window"

    days: tuple[Windows, Windows, Windows, Windows]

    def __post_init__(self) -> None:
        _check_common(self)
        if len(self.days) != 4:
            raise RuleError(f"{self.code}: windows for exactly {DAY_TYPES}")
        for label, windows in zip(DAY_TYPES, self.days, strict=True):
            for start, end in windows:
                if not (0 <= start < end <= 1440):
                    raise RuleError(
                        f"{self.code}: {label} window {start}-{end} must satisfy "
                        "00:00 <= start < end <= 24:00"
                    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CapRule(Rule):
    """At most ``max_count`` events within a period; the next contact is blocked at the limit.

    ``counts`` names an ``EVENT_KINDS`` entry; ``count_channels`` (default: ``channels``) says
    whose history entries count; ``scope`` is ``debt`` or ``debtor``; with
    ``after_first_conversation`` the cap only applies once a live conversation has happened.
    Rolling periods are whole local days: the asked day and the ``days - 1`` days before it.
    """

    kind: ClassVar[str] = "cap"

    max_count: int
    period: str
    days: int = 0
    counts: str = "attempts"
    count_channels: frozenset[str] = frozenset()
    scope: str = "debt"
    after_first_conversation: bool = False

    def __post_init__(self) -> None:
        _check_common(self)
        if self.max_count < 1:
            raise RuleError(f"{self.code}: max_count must be >= 1")
        if self.period not in PERIODS:
            raise RuleError(f"{self.code}: period must be one of {PERIODS}")
        if self.period == "rolling_days" and self.days < 1:
            raise RuleError(f"{self.code}: a rolling period needs days >= 1")
        if self.counts not in EVENT_KINDS:
            raise RuleError(f"{self.code}: counts must be one of {sorted(EVENT_KINDS)}")
        if not self.count_channels:
            object.__setattr__(self, "count_channels", self.channels)
        elif not self.count_channels <= _CHANNEL_SET:
            raise RuleError(f"{self.code}: unknown count_channels")
        if self.scope not in ("debt", "debtor"):
            raise RuleError(f"{self.code}: scope must be debt or debtor")


@dataclass(frozen=True, slots=True, kw_only=True)
class QuietRule(Rule):
    """No contact on ``channels`` for ``days`` days after a trigger event, its day being day 1."""

    kind: ClassVar[str] = "quiet"

    days: int
    trigger: str = "conversations"
    trigger_channels: frozenset[str] = frozenset({"call"})
    scope: str = "debt"

    def __post_init__(self) -> None:
        _check_common(self)
        if self.days < 1:
            raise RuleError(f"{self.code}: days must be >= 1")
        if self.trigger not in EVENT_KINDS:
            raise RuleError(f"{self.code}: trigger must be one of {sorted(EVENT_KINDS)}")
        if not self.trigger_channels or not self.trigger_channels <= _CHANNEL_SET:
            raise RuleError(f"{self.code}: unknown trigger_channels")
        if self.scope not in ("debt", "debtor"):
            raise RuleError(f"{self.code}: scope must be debt or debtor")


@dataclass(frozen=True, slots=True, kw_only=True)
class FlagRule(Rule):
    """A debtor flag, or a combination (all of ``when_flags``), blocks ``channels``."""

    kind: ClassVar[str] = "flag"

    def __post_init__(self) -> None:
        _check_common(self)
        if not self.when_flags:
            raise RuleError(f"{self.code}: a flag rule needs when_flags")


@dataclass(frozen=True, slots=True, kw_only=True)
class PermissionRule(Rule):
    """Whether ``channels`` may be used in the region at all (see ``PERMISSION_MODES``)."""

    kind: ClassVar[str] = "permission"

    mode: str

    def __post_init__(self) -> None:
        _check_common(self)
        if self.mode not in PERMISSION_MODES:
            raise RuleError(f"{self.code}: mode must be one of {PERMISSION_MODES}")
        if self.when_flags:
            raise RuleError(f"{self.code}: a permission is unconditional; use a flag rule")


@dataclass(frozen=True, slots=True, kw_only=True)
class DisclosureRule(Rule):
    """A text required on ``channels``; ``texts`` is ((language, text), ...), first = fallback.

    Rules sharing a ``topic`` override each other: the nearest region's rule wins (a state's
    opt-out wording replaces the platform default), so disclosures are never duplicated.
    """

    kind: ClassVar[str] = "disclosure"

    topic: str
    texts: tuple[tuple[str, str], ...]
    when: str = "always"

    def __post_init__(self) -> None:
        _check_common(self)
        if not self.topic:
            raise RuleError(f"{self.code}: a disclosure needs a topic")
        if not self.texts or any(not lang or not text for lang, text in self.texts):
            raise RuleError(f"{self.code}: a disclosure needs texts")
        if self.when not in DISCLOSURE_WHEN:
            raise RuleError(f"{self.code}: when must be one of {DISCLOSURE_WHEN}")


RULE_KINDS: dict[str, type[Rule]] = {
    cls.kind: cls
    for cls in (WindowRule, CapRule, QuietRule, FlagRule, PermissionRule, DisclosureRule)
}
"""Rule classes by the ``kind`` name used in pack data."""


# --------------------------------------------------------------------------------------------
# Compilation
# --------------------------------------------------------------------------------------------


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


def _intersect(a: Windows, b: Windows) -> Windows:
    out = []
    for s1, e1 in a:
        for s2, e2 in b:
            s, e = max(s1, s2), min(e1, e2)
            if s < e:
                out.append((s, e))
    out.sort()
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


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
    try:
        cp = rules._plans[channel]
    except KeyError:
        raise ValueError(f"unknown channel {channel!r}") from None
    day = local_dt.toordinal()
    plan = cp.single or cp.at(day)
    reasons: list[Reason] | None = None

    # Permanent blocks: flags, forbidden channels, missing consent.
    if plan.forbidden or plan.consent or (flags and plan.blocks):
        reasons = _permanent_reasons(plan, channel, flags)

    # Contact windows for the day type.
    minute = local_dt.hour * 60 + local_dt.minute
    wd = local_dt.weekday()
    dtype = 0 if wd < 5 else wd - 4
    if plan.holiday_sensitive and holidays is not None and _is_holiday(holidays, local_dt.date()):
        dtype = 3
    windows = plan.windows
    inside = False
    wins = _windows_for(plan, dtype, flags) if plan.cond_windows and flags else windows[dtype]
    for s, e in wins:
        if s <= minute < e:
            inside = True
            break
    if not inside:
        reasons = reasons or []
        reasons += _window_reasons(plan, channel, dtype, minute, flags)

    # Caps and quiet periods, counted over whole local days.
    date_clear = True
    for cap in plan.caps:
        if cap.when_flags and not cap.when_flags <= flags:
            continue
        n = len(_count(cap, day, history, debt_id))
        if n >= cap.max_count:
            date_clear = False
            reasons = reasons or []
            reasons.append(_cap_reason(cap, channel, day, n))
    for q in plan.quiets:
        if q.when_flags and not q.when_flags <= flags:
            continue
        last = _last_trigger(q, day, history, debt_id)
        if last:
            date_clear = False
            reasons = reasons or []
            reasons.append(_quiet_reason(q, channel, last))

    if not reasons:
        return Decision(True, (), local_dt)
    nxt = _next_allowed(cp, channel, day, minute, history, flags, holidays, debt_id, date_clear)
    return Decision(False, tuple(reasons), nxt)


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
    try:
        cp = rules._plans[channel]
    except KeyError:
        raise ValueError(f"unknown channel {channel!r}") from None
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


def _is_holiday(holidays: Collection[date] | Callable[[date], bool], day: date) -> bool:
    if callable(holidays):
        return bool(holidays(day))
    return day in holidays


def _windows_for(plan: _Plan, dtype: int, flags: Collection[str]) -> Windows:
    wins = plan.windows[dtype]
    for wf, rule in plan.cond_windows:
        if wf <= flags:
            wins = _intersect(wins, rule.days[dtype])
    return wins


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
        wd = d.weekday()
        dtype = 0 if wd < 5 else wd - 4
        if plan.holiday_sensitive and holidays is not None and _is_holiday(holidays, d):
            dtype = 3
        wins = _windows_for(plan, dtype, flags) if plan.cond_windows else plan.windows[dtype]
        for s, e in wins:
            if e > minute:
                m = max(s, minute)
                return datetime(d.year, d.month, d.day, m // 60, m % 60)
        day, minute = day + 1, 0
    return None


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


# --------------------------------------------------------------------------------------------
# Human-readable reasons (only built for blocked decisions)
# --------------------------------------------------------------------------------------------


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


def parse_hhmm(value: str) -> int:
    """'08:30' -> 510 minutes after midnight; '24:00' is allowed as a window end."""
    hh, sep, mm = value.partition(":")
    if not sep or len(mm) != 2 or not hh.isdigit() or not mm.isdigit():
        raise RuleError(f"time {value!r} must look like HH:MM")
    minute = int(hh) * 60 + int(mm)
    if int(mm) > 59 or minute > 1440:
        raise RuleError(f"time {value!r} is outside the day")
    return minute


__all__ = [
    "CHANNELS",
    "DAY_TYPES",
    "DISCLOSURE_WHEN",
    "EVENT_KINDS",
    "FLAGS",
    "OUTCOMES",
    "PERIODS",
    "PERMISSION_MODES",
    "RULE_KINDS",
    "SEARCH_DAYS",
    "CapRule",
    "Citation",
    "Contact",
    "Decision",
    "Disclosure",
    "DisclosureRule",
    "EffectiveRules",
    "FlagRule",
    "HolidayLookup",
    "PermissionRule",
    "QuietRule",
    "Reason",
    "Rule",
    "RuleError",
    "WindowRule",
    "compile_rules",
    "evaluate",
    "parse_hhmm",
    "required_disclosures",
]
