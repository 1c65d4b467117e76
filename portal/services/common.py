"""Shared by the portal's services: the actor name, the portal's own error, the timeline entry.

The debtor's wall clock (`debtor_today`, `debtor_zone`) is a read: `portal.selectors`.
"""

from __future__ import annotations

import logging
from typing import Any

from accounts.models import (
    CHANNELS,
    Account,
    ActivityKind,
    Debtor,
    DomainError,
)
from accounts.services import (
    PLAN_START_DAYS,
    activity_record,
)

logger = logging.getLogger(__name__)

ACTOR = "debtor"
__all__ = ["ACTOR", "CALLBACK_DAYS", "CHANNELS", "PLAN_START_DAYS", "PortalError"]

# Stage names the planner (recommender) reads from `Activity.data["stage"]`; see docs/portal.md.
STAGE_MISSED_INSTALMENT = "missed_instalment"
STAGE_PAUSE_ENDING = "pause_ending"

# How far ahead a call back may be booked (the page says "within the next two weeks"). A
# plan's first payment: `accounts.services.PLAN_START_DAYS`, a rule of `plan_check`.
CALLBACK_DAYS = 14


class PortalError(DomainError):
    """The debtor asked for something the rules do not allow; the message is translated.

    `field` names the form field the message belongs next to (None: the form as a whole);
    `rule` is the refusing rule's name when an `accounts` rule refused (`PlanRefused.rule`).
    """

    def __init__(self, message: str, *, field: str | None = None, rule: str | None = None):
        super().__init__(message)
        self.field = field
        self.rule = rule


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
