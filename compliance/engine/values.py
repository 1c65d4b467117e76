"""Values in and out of the engine: citations, past contacts, reasons, decisions, disclosures."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from compliance.engine.vocabulary import _CHANNEL_SET, _OUTCOME_SET


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
