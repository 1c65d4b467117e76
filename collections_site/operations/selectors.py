"""The reads of the operations cockpit's Health page: the outbox, the task queue and the live
model, each figure one aggregate query (no loop over rows).

The outbox's figures are narrowed to what the viewer may see (`accounts.tenancy`) and to the
page's filters (`OutboxScope`); the task queue and the model are the platform's, shown to
agency staff only (`views.py` decides).

Every outbox figure but one reads a few rows through an index whatever the outbox's size:
the recent sends (`sent_at`), the waiting messages and the last day's failures (the partial
index `message_waiting_failed`). The exception is the count of messages by status, which
would read every message ever made: the waiting ones (planned, queued:
`messaging.models.WAITING_STATUSES`) are counted live, the statuses that hold nearly every
message (sent, delivered, failed, blocked, cancelled) come from the status rollup
(`OutboxStatusDay`, refreshed every five minutes; the page says when).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django_q.models import Failure, OrmQ, Schedule, Success

from accounts.models import Creditor
from accounts.tenancy import scope_queryset
from collections_site.operations.models import OutboxStatusDay, RollupState
from collections_site.operations.rollups.outbox import NAME as STATUS_ROLLUP
from messaging.models import WAITING_STATUSES, Message, MessageStatus
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
class OutboxScope:
    """The part of the outbox the figures count: what `user` may see, narrowed to a creditor,
    the debtor's region and a channel when given. `start` and `end` (UTC days, either may be
    None) narrow the messages by status to those created on those days; the other figures
    are about now and take no dates."""

    user: Any
    creditor: Creditor | None = None
    region: str = ""
    channel: str = ""
    start: date | None = None
    end: date | None = None

    def messages(self) -> QuerySet[Message]:
        qs = scope_queryset(Message.objects.all(), self.user, "creditor")
        if self.creditor is not None:
            qs = qs.filter(creditor=self.creditor)
        if self.region:
            qs = qs.filter(debtor__region=self.region)
        if self.channel:
            qs = qs.filter(channel=self.channel)
        return qs

    def created(self, qs: QuerySet[Message]) -> QuerySet[Message]:
        """`qs` narrowed to the messages created on the scope's days."""
        if self.start is not None:
            qs = qs.filter(created_at__gte=_day_start(self.start))
        if self.end is not None:
            qs = qs.filter(created_at__lt=_day_start(self.end) + timedelta(days=1))
        return qs

    def rollup(self) -> QuerySet[OutboxStatusDay]:
        qs = scope_queryset(OutboxStatusDay.objects.all(), self.user, "creditor")
        if self.creditor is not None:
            qs = qs.filter(creditor=self.creditor)
        if self.region:
            qs = qs.filter(region=self.region)
        if self.channel:
            qs = qs.filter(channel=self.channel)
        if self.start is not None:
            qs = qs.filter(day__gte=self.start)
        if self.end is not None:
            qs = qs.filter(day__lte=self.end)
        return qs


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class OutboxHealth:
    """The outbox as the viewer may see it, at `now`."""

    now: datetime
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


def outbox_health(*, scope: OutboxScope, now: datetime) -> OutboxHealth:
    """Three aggregate queries, each through an index, over the messages in `scope`."""
    messages = scope.messages()
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
        oldest_due_at=oldest,
        sent_15m=sent["quarter"],
        sent_1h=sent["hour"],
        failed_24h=failed["all"],
        unconfirmed_24h=failed["unconfirmed"],
    )


@dataclass(frozen=True)
class OutboxStatuses:
    """How many messages in the scope are in each status (every `MessageStatus`, 0 when
    none). Those in `live` were counted now; the others are the status rollup's as of
    `as_of` (its last refresh)."""

    counts: dict[str, int]
    live: frozenset[str] = field(default_factory=frozenset)
    as_of: datetime | None = None


def outbox_statuses(*, scope: OutboxScope) -> OutboxStatuses:
    """Three small queries: the status rollup's state, the waiting messages counted through
    their partial index, the other statuses summed from the rollup. Until
    the rollup has run once, every status is counted live (one query over the scope's
    messages, as slow as the outbox is large)."""
    state = RollupState.objects.filter(name=STATUS_ROLLUP, refreshed_at__isnull=False).first()
    messages = scope.created(scope.messages()).order_by()
    if state is None:
        live, counted = frozenset(M.values), messages
    else:
        live, counted = frozenset(WAITING_STATUSES), messages.filter(status__in=WAITING_STATUSES)
    # COUNT(*): a count of a column would read it from the table, not the index.
    counts = dict(counted.values_list("status").annotate(n=Count("*")).values_list("status", "n"))
    if state is not None:
        rolled = (
            scope.rollup()
            .exclude(status__in=WAITING_STATUSES)
            .order_by()
            .values_list("status")
            .annotate(n=Sum("messages"))
            .values_list("status", "n")
        )
        counts.update(rolled)
    return OutboxStatuses(
        counts={status: counts.get(status, 0) for status in M.values},
        live=live,
        as_of=state.watermark if state is not None else None,
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
