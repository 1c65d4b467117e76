"""The `seed_demo` hook (`<app>.demo.seed`): queue the demo history for the worker.

Only in a demo (`runner.refusal()`): with DEBUG on or DEMO_HISTORY=1 and local channel
backends.
Idempotent: a history already built, or being built, is left as it is.
"""

from __future__ import annotations

from typing import TextIO

from django.conf import settings
from django_q.tasks import async_task

from collections_site.demo_history import runner, tasks
from collections_site.demo_history.models import DemoHistoryStatus


def seed(*, creditor, stdout: TextIO) -> None:
    if not settings.DEMO_HISTORY or runner.refusal():
        return
    existing = runner.history_get()
    if existing is None:
        try:
            existing = runner.history_prepare(
                days=settings.DEMO_HISTORY_DAYS, debtors=settings.DEMO_HISTORY_DEBTORS
            )
        except ValueError as exc:
            stdout.write(f"Demo history: not queued: {exc}\n")
            return
    if existing.status == DemoHistoryStatus.DONE:
        stdout.write(f"Demo history: built ({existing.days} days, {existing.debtors} debtors).\n")
        return
    tasks.schedule_ensure()
    async_task(tasks.TASK, group="demo_history")
    stdout.write(
        f"Demo history: queued for the worker ({existing.days} days, {existing.debtors:,} "
        "debtors, a few minutes; progress on /admin/operations/).\n"
    )
