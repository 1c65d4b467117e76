"""The Health page's verdict: "Healthy", or the reasons it needs attention.

The figures in, the reasons out, keyed by the figure that tripped (so the page can mark it).
The thresholds are the `OPERATIONS_*` settings (collections_site/settings/base.py,
docs/operations.md): counts trip when they are above theirs, ages when they are past theirs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from collections_site.operations.selectors import OutboxHealth, QueueHealth, ScheduleRun


def outbox_reasons(outbox: OutboxHealth, *, held: bool = False) -> dict[str, str]:
    """What is wrong with the outbox (the part every viewer may see).

    `held`: a demo history is being built (docs/demo.md). It holds the live dispatcher on
    purpose, and its own messages are due at simulated times weeks in the past, so how late
    the oldest due message is says nothing about the system's health then."""
    reasons = {}
    lag = outbox.lag_seconds
    if not held and lag is not None and lag > settings.OPERATIONS_DUE_LAG_WARN_SECONDS:
        reasons["lag"] = f"the oldest due message is {duration(lag)} late"
    if outbox.failed_24h > settings.OPERATIONS_FAILED_MESSAGES_WARN:
        reasons["failed_messages"] = f"{outbox.failed_24h} messages failed in the last 24 hours"
    if outbox.unconfirmed_24h > settings.OPERATIONS_HANDOFF_UNCONFIRMED_WARN:
        reasons["unconfirmed"] = (
            f"{outbox.unconfirmed_24h} unconfirmed hand-offs in the last 24 hours"
        )
    return reasons


def queue_reasons(queue: QueueHealth, *, now: datetime, held: bool = False) -> dict[str, str]:
    """What is wrong with the task queue and the recommender's schedules (agency staff).

    `held`: a demo history is being built, which holds planning and retraining on purpose
    (docs/demo.md); their staleness then says nothing about the system's health."""
    reasons = {}
    if queue.queued is not None and queue.queued > settings.OPERATIONS_QUEUED_TASKS_WARN:
        reasons["queued"] = f"{queue.queued} tasks are waiting in the queue"
    if queue.failed_24h > settings.OPERATIONS_FAILED_TASKS_WARN:
        reasons["failed_tasks"] = f"{queue.failed_24h} tasks failed in the last 24 hours"
    if held:
        return reasons
    plan = _stale("planning", queue.plan, settings.OPERATIONS_PLAN_STALE_HOURS, now)
    retrain = _stale("retraining", queue.retrain, settings.OPERATIONS_RETRAIN_STALE_HOURS, now)
    reasons.update({"plan": plan} if plan else {})
    reasons.update({"retrain": retrain} if retrain else {})
    return reasons


def _stale(what: str, run: ScheduleRun, hours: float, now: datetime) -> str:
    if run.last_success is None:
        return f"{what} has never succeeded"
    age = now - run.last_success
    if age > timedelta(hours=hours):
        return f"{what} last succeeded {duration(age.total_seconds())} ago"
    return ""


def duration(seconds: float) -> str:
    """`45 s`, `12 min`, `3 h 05 min`, `2 d 4 h`: short enough for a reason."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
