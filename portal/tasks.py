"""Scheduled portal work (django-q2). Tasks load, call one service, and are safe to repeat.

The schedules are created idempotently by migrations `portal.0002_schedules` and
`portal.0006_promises_schedule` (daily) and `portal.0007_pauses_end_schedule` (hourly).
"""

from __future__ import annotations

import logging

from portal import services

logger = logging.getLogger(__name__)


def installments_mark_missed() -> dict[str, int]:
    """Mark overdue instalments missed and break plans left unpaid (see the service)."""
    counts = services.installments_mark_missed()
    if any(counts.values()):
        logger.info("installments_mark_missed: %(missed)d missed, %(broken)d plans broken", counts)
    return counts


def promises_check() -> dict[str, int]:
    """Decide promises to pay whose date has passed; book follow-ups for broken ones."""
    counts = services.promises_check()
    if any(counts.values()):
        logger.info(
            "promises_check: %(kept)d kept, %(broken)d broken, %(follow_ups)d follow-ups", counts
        )
    return counts


def pauses_end() -> int:
    """End the breathing spaces that are over (see the service); returns how many ended."""
    return services.pauses_end_expired()
