"""Rules as data: one frozen dataclass per rule kind, validated when built."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from compliance.engine.values import Citation
from compliance.engine.vocabulary import (
    _CHANNEL_SET,
    CHANNELS,
    DAY_TYPES,
    DISCLOSURE_WHEN,
    EVENT_KINDS,
    FLAGS,
    PERIODS,
    PERMISSION_MODES,
    RuleError,
    Windows,
)


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
