"""The reads of the operations cockpit: the outbox, the task queue and the live model, each
figure one aggregate query (no loop over rows).

The outbox's figures are narrowed to what the viewer may see (`accounts.tenancy`); the task
queue and the model are the platform's, shown to agency staff only (`views.py` decides).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Min, Q, QuerySet
from django_q.models import Failure, OrmQ, Schedule, Success

from accounts.tenancy import scope_queryset
from messaging.models import Message, MessageStatus
from messaging.services.handoff import HANDOFF_UNCONFIRMED
from recommender import tasks as recommender_tasks
from recommender.models import ModelStatus, ModelVersion

M = MessageStatus


def _func_name(func: Any) -> str:
    """The dotted name django-q2 records for a task function (`Success.func`, `Schedule.func`)."""
    return f"{func.__module__}.{func.__qualname__}"


PLAN_FUNC = _func_name(recommender_tasks.plan_contacts_task)
RETRAIN_FUNC = _func_name(recommender_tasks.model_retrain_task)


# --- the outbox ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxHealth:
    """The outbox as the viewer may see it, at `now`."""

    now: datetime
    by_status: dict[str, int]  # every MessageStatus, 0 when there is none
    oldest_due_at: datetime | None  # the oldest planned message due by now
    sent_15m: int
    sent_1h: int
    failed_24h: int
    unconfirmed_24h: int

    @property
    def lag_seconds(self) -> float | None:
        """How late the oldest due message is (None: nothing is waiting)."""
        if self.oldest_due_at is None:
            return None
        return max(0.0, (self.now - self.oldest_due_at).total_seconds())


def outbox_health(*, user: Any, now: datetime) -> OutboxHealth:
    """Four aggregate queries over the messages `user` may see."""
    messages: QuerySet[Message] = scope_queryset(Message.objects.all(), user, "creditor")
    counts = dict(
        messages.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    # The dispatcher's own partial index (planned, due_at) answers this one.
    oldest = messages.filter(status=M.PLANNED, due_at__lte=now).aggregate(at=Min("due_at"))["at"]
    sent = messages.filter(sent_at__gt=now - timedelta(hours=1), sent_at__lte=now).aggregate(
        hour=Count("id"), quarter=Count("id", filter=Q(sent_at__gt=now - timedelta(minutes=15)))
    )
    failed = messages.filter(
        status=M.FAILED, status_changed_at__gt=now - timedelta(hours=24)
    ).aggregate(
        all=Count("id"),
        unconfirmed=Count("id", filter=Q(status_reason__startswith=HANDOFF_UNCONFIRMED)),
    )
    return OutboxHealth(
        now=now,
        by_status={status: counts.get(status, 0) for status in M.values},
        oldest_due_at=oldest,
        sent_15m=sent["quarter"],
        sent_1h=sent["hour"],
        failed_24h=failed["all"],
        unconfirmed_24h=failed["unconfirmed"],
    )


# --- the task queue --------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleRun:
    """One schedule's last success and next run (None: never / no schedule row)."""

    func: str
    last_success: datetime | None
    next_run: datetime | None


@dataclass(frozen=True)
class QueueHealth:
    broker: str  # "orm" or "redis"
    queued: int | None  # None: the broker could not be asked
    failed_24h: int
    plan: ScheduleRun
    retrain: ScheduleRun


def queued_tasks() -> tuple[str, int | None]:
    """The broker's name and how many tasks wait in it (None when Redis cannot be reached)."""
    if "orm" in settings.Q_CLUSTER:  # django-q2 picks the ORM broker first when both are set
        return "orm", OrmQ.objects.count()
    from django_q.brokers import get_broker

    try:
        return "redis", int(get_broker().queue_size())
    except Exception:  # any connection or protocol error: the page still shows the rest
        return "redis", None


def queue_health(*, now: datetime) -> QueueHealth:
    """The queue's length, failed tasks and the recommender schedules' runs: four queries."""
    broker, queued = queued_tasks()
    funcs = [PLAN_FUNC, RETRAIN_FUNC]
    last = dict(
        Success.objects.filter(func__in=funcs)
        .order_by()
        .values_list("func")
        .annotate(at=Max("stopped"))
        .values_list("func", "at")
    )
    nexts = dict(
        Schedule.objects.filter(func__in=funcs)
        .order_by()
        .values_list("func")
        .annotate(at=Min("next_run"))
        .values_list("func", "at")
    )
    return QueueHealth(
        broker=broker,
        queued=queued,
        failed_24h=Failure.objects.filter(stopped__gt=now - timedelta(hours=24)).count(),
        plan=ScheduleRun(PLAN_FUNC, last.get(PLAN_FUNC), nexts.get(PLAN_FUNC)),
        retrain=ScheduleRun(RETRAIN_FUNC, last.get(RETRAIN_FUNC), nexts.get(RETRAIN_FUNC)),
    )


# --- the model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelHealth:
    live: dict[str, Any] | None = None  # label, promoted_at
    latest: dict[str, Any] | None = None  # label, trained_at, status: the last retrain


def model_health() -> ModelHealth:
    """The live model and the latest trained one: two queries that never load an artifact."""
    live = (
        ModelVersion.objects.filter(status=ModelStatus.LIVE).values("label", "promoted_at").first()
    )
    latest = (
        ModelVersion.objects.order_by("-trained_at", "-id")
        .values("label", "trained_at", "status")
        .first()
    )
    return ModelHealth(live=live, latest=latest)
