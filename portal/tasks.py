"""Scheduled portal work (django-q2). Tasks load, call one service, and are safe to repeat.

The daily schedule is created idempotently by migration `portal.0002_schedules`.
"""

from __future__ import annotations

from portal import services

SCHEDULE_MISSED = "portal.installments_mark_missed"


def installments_mark_missed() -> dict[str, int]:
    """Mark overdue instalments missed and break plans left unpaid (see the service)."""
    return services.installments_mark_missed()
