"""The messaging app's django-q2 schedules, created or updated by name (idempotent).

Used by migration 0003 and `manage.py messaging_schedules`. The hourly `plan_contacts`
schedule belongs to the recommender app, which owns the planning step.
"""

from __future__ import annotations

from typing import Any

from django_q.models import Schedule

SCHEDULES: list[dict[str, Any]] = [
    {
        "name": "messaging.dispatch_due",
        "func": "messaging.tasks.dispatch_due",
        "schedule_type": "I",  # minutes
        "minutes": 1,
        "repeats": -1,
    },
]


def schedules_ensure(*, schedule_model: Any = None) -> list[str]:
    """Create or update every schedule by name; returns the names."""
    if schedule_model is None:
        schedule_model = Schedule
    names = []
    for spec in SCHEDULES:
        values = {k: v for k, v in spec.items() if k != "name"}
        schedule_model.objects.update_or_create(name=spec["name"], defaults=values)
        names.append(spec["name"])
    return names
