"""The demo history's django-q2 task: run the next days, then queue itself until done.

`demo.py` (the `seed_demo` hook) queues it and creates the one-minute `demo_history.continue`
schedule, which picks the history up again after a worker was stopped (the lease keeps two
runs apart); the schedule is removed when the history is done.
"""

from __future__ import annotations

from typing import Any

from django_q.models import Schedule
from django_q.tasks import async_task

from collections_site.demo_history import runner

TASK = "collections_site.demo_history.tasks.demo_history_continue"
SCHEDULE_NAME = "demo_history.continue"
CHUNK_SECONDS = 120.0  # well under the task timeout (Q_TIMEOUT, 600 s)


def demo_history_continue() -> dict[str, Any]:
    """Run days for up to `CHUNK_SECONDS`; queue the next chunk while days are left."""
    if runner.refusal():
        return {"refused": runner.refusal()}
    chunk = runner.advance(max_seconds=CHUNK_SECONDS)
    row = runner.history_get()
    done = row is None or row.status == runner.S.DONE
    if done:
        Schedule.objects.filter(name=SCHEDULE_NAME).delete()
    elif chunk.ran:
        async_task(TASK, group="demo_history")
    return {"days": chunk.days, "day_done": row.day_done if row else None, "done": done}


def schedule_ensure() -> None:
    Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={"func": TASK, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
    )
