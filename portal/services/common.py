"""Shared by the portal's services: the actor name, the portal's own error, the timeline entry, and
the debtor's wall clock.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from accounts.models import (
    CHANNEL_CHOICES,
    Account,
    ActivityKind,
    Debtor,
    DomainError,
)
from accounts.services import (
    activity_record,
)

logger = logging.getLogger(__name__)

ACTOR = "debtor"
CHANNELS: tuple[str, ...] = tuple(code for code, _label in CHANNEL_CHOICES)

# Stage names the planner (recommender) reads from `Activity.data["stage"]`; see docs/portal.md.
STAGE_MISSED_INSTALMENT = "missed_instalment"
STAGE_PAUSE_ENDING = "pause_ending"

# How far ahead a plan's first payment and a call back may be booked (the pages say "within
# the next 30 days" and "within the next two weeks").
PLAN_START_DAYS = 30
CALLBACK_DAYS = 14


class PortalError(DomainError):
    """The debtor asked for something the rules do not allow; the message is translated."""


def _portal_event(
    debtor: Debtor, event: str, summary: str, *, account: Account | None = None, **data: Any
) -> None:
    """A `portal` entry on the debtor's timeline; `data["event"]` names what happened."""
    activity_record(
        debtor=debtor,
        account=account,
        kind=ActivityKind.PORTAL,
        summary=summary,
        data={"event": event, **data},
        actor=ACTOR,
    )


def debtor_today(debtor: Debtor) -> date:
    """Today's date on the debtor's wall clock."""
    return timezone.localtime(timezone=debtor_zone(debtor)).date()


def debtor_zone(debtor: Debtor) -> ZoneInfo:
    try:
        return ZoneInfo(debtor.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
