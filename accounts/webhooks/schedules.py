"""The webhooks' django-q2 schedules, created or updated by name (idempotent)."""

from __future__ import annotations

from typing import Any

SCHEDULES: list[dict[str, Any]] = [
    {
        "name": "webhooks.deliver_due",
        "func": "accounts.webhooks.tasks.deliver_due",
        "schedule_type": "I",  # minutes
        "minutes": 1,
        "repeats": -1,
    },
    {
        "name": "webhooks.events_prune",
        "func": "accounts.webhooks.tasks.events_prune",
        "schedule_type": "D",
        "repeats": -1,
    },
]


def schedules_ensure(*, schedule_model: Any) -> list[str]:
    """Create or update every schedule by name; returns the names."""
    names = []
    for spec in SCHEDULES:
        values = {k: v for k, v in spec.items() if k != "name"}
        schedule_model.objects.update_or_create(name=spec["name"], defaults=values)
        names.append(spec["name"])
    return names
