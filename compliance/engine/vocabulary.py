"""The engine's vocabulary: channels, outcomes, debtor flags, day types, periods and modes.

Rule data and contact history use these names; ``compliance.models`` offers them as choices.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import date

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

Windows = tuple[tuple[int, int], ...]
"""Allowed [start, end) intervals in minutes after local midnight; start inside, end blocked."""

HolidayLookup = Collection[date] | Callable[[date], bool] | None
"""Holidays as a set of dates, a date -> bool predicate, or None for "no holidays"."""


class RuleError(ValueError):
    """A rule's data is invalid (unknown channel, window outside the day, cap below 1, ...)."""
