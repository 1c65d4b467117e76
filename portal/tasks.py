"""Scheduled portal work (django-q2). Tasks load, call one service, and are safe to repeat.

The daily schedule is created idempotently by migration `portal.0002_schedules`.
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
