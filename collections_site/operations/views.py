"""The Health page (`/admin/operations/`): one screen that says whether the system is well.

Wired by `wagtail_hooks.py`; Wagtail's admin URLs require admin access and switch to the
viewer's time zone and language before this view runs. Every viewer sees the outbox they may
see (`accounts.tenancy`); the task queue, the schedules and the model are the platform's and
are shown, and weigh in the verdict, for agency staff only.

The filter bar (`cockpit/filters.py`: creditor, region, channel, dates) narrows the outbox's
figures and their links to the outbox; the dates narrow only the messages by status (those
created on those days), the other figures being about now. The verdict always weighs all
of the viewer's outbox, so a filter never hides a problem; a figure is marked when its own
narrowed value trips its threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.translation import gettext as _
from wagtail.permissions import policy_registry

from accounts.tenancy import is_agency_staff
from collections_site.demo_history.progress import demo_progress
from collections_site.operations import selectors, verdict
from collections_site.operations.cockpit.filters import CockpitFilters
from collections_site.operations.cockpit.pages import filters_for, tabs
from messaging.models import Message, MessageStatus

M = MessageStatus


@dataclass(frozen=True)
class Figure:
    """One line of the page: a plain label, its value, and where its rows are listed."""

    label: str
    value: str
    url: str = ""
    note: str = ""
    warn: bool = False


def health(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    user = request.user
    form, filters = filters_for(request, dated=False)
    scope = selectors.OutboxScope(
        user=user,
        creditor=filters.creditor,
        region=filters.region,
        channel=filters.channel,
        start=filters.start,
        end=filters.end,
    )
    everything = selectors.OutboxScope(user=user)
    # The dates apply to the messages by status only; the flow figures are about now.
    narrowed = replace(scope, start=None, end=None) != everything
    outbox = selectors.outbox_health(scope=scope, now=now)
    # The demo history's progress (demo installations only; docs/demo.md).
    demo = demo_progress()
    held = bool(demo and demo.building)
    marks = verdict.outbox_reasons(outbox, held=held)
    # The verdict weighs everything the viewer may see, whatever the filters.
    reasons = (
        verdict.outbox_reasons(selectors.outbox_health(scope=everything, now=now), held=held)
        if narrowed
        else dict(marks)
    )
    agency = is_agency_staff(user)
    links = _OutboxLinks(user, filters)
    context = {
        "now": now,
        "zone": timezone.get_current_timezone_name(),
        "agency": agency,
        "form": form,
        "filters": filters,
        "narrowed": narrowed,
        "statuses": selectors.outbox_statuses(scope=scope),
        "tabs": tabs("health", filters),
    }
    context["outbox_statuses"] = _status_figures(links, context["statuses"])
    if agency:
        queue = selectors.queue_health(now=now)
        queue_reasons = verdict.queue_reasons(queue, now=now, held=held)
        reasons |= queue_reasons
        context["queue"] = _queue_figures(user, queue, queue_reasons)
        context["model"] = _model_figures(user, selectors.model_health())
        context["demo"] = demo
    context["outbox_flow"] = _flow_figures(links, outbox, marks)
    context["reasons"] = list(reasons.values())
    return TemplateResponse(request, "operations/health.html", context)


# --- links -----------------------------------------------------------------------------------


class _OutboxLinks:
    """Links to the outbox listing the rows a figure counts, with the page's creditor, region
    and channel; empty for a viewer who may not open the outbox."""

    def __init__(self, user: Any, filters: CockpitFilters) -> None:
        self.allowed = policy_registry.get_by_type(Message).user_has_permission(user, "view")
        self.filters = filters
        self.base = {
            "creditor": filters.creditor.pk if filters.creditor else "",
            "region": filters.region,
            "channel": filters.channel,
        }

    def url(self, **more: Any) -> str:
        if not self.allowed:
            return ""
        params = {k: v for k, v in {**self.base, **more}.items() if v not in ("", None)}
        url = reverse("messaging_outbox:index")
        return f"{url}?{urlencode(params)}" if params else url

    def created(self, **more: Any) -> str:
        """The messages created on the page's days (the messages by status)."""
        f = self.filters
        return self.url(created_from=f.start or "", created_to=f.end or "", **more)


def _admin_url(user, app: str, model: str) -> str:
    """A Django admin listing, if `user` may see it there."""
    if not (user.is_staff and user.has_perm(f"{app}.view_{model}")):
        return ""
    try:
        return reverse(f"admin:{app}_{model}_changelist")
    except NoReverseMatch:
        return ""


def _when(value: datetime | None, never: str = "") -> str:
    """A stored time in the viewer's zone (Wagtail activated it for this request)."""
    return date_format(timezone.localtime(value), "Y-m-d H:i") if value else never


# --- figures ---------------------------------------------------------------------------------


def _status_figures(links: _OutboxLinks, statuses: selectors.OutboxStatuses) -> list[Figure]:
    as_of = (
        _("as of %(when)s") % {"when": _when(statuses.as_of)} if statuses.as_of is not None else ""
    )
    return [
        Figure(
            str(label),
            f"{statuses.counts[status]:,}",
            links.created(status=status),
            note="" if status in statuses.live else as_of,
        )
        for status, label in M.choices
    ]


def _flow_figures(links: _OutboxLinks, outbox: selectors.OutboxHealth, marks: dict[str, str]):
    lag = outbox.lag_seconds
    failed = links.url(status=M.FAILED)
    return [
        Figure(
            _("Oldest due message is late by"),
            verdict.duration(lag) if lag is not None else _("nothing is due"),
            links.url(status=M.PLANNED) if lag is not None else "",
            note=_("due %(when)s") % {"when": _when(outbox.oldest_due_at)} if lag else "",
            warn="lag" in marks,
        ),
        # The outbox has no filter by the minute: these open it newest first.
        Figure(_("Sent in the last 15 minutes"), str(outbox.sent_15m), links.url()),
        Figure(_("Sent in the last hour"), str(outbox.sent_1h), links.url()),
        Figure(
            _("Failed in the last 24 hours"),
            str(outbox.failed_24h),
            failed,
            warn="failed_messages" in marks,
        ),
        Figure(
            _("Unconfirmed hand-offs in the last 24 hours"),
            str(outbox.unconfirmed_24h),
            failed,
            note=_("failed, may have gone out: check with the provider, never re-send blindly"),
            warn="unconfirmed" in marks,
        ),
    ]


def _queue_figures(user, queue: selectors.QueueHealth, reasons: dict[str, str]) -> list[Figure]:
    broker = _("database (ORM)") if queue.broker == "orm" else _("Redis")
    schedules = _admin_url(user, "django_q", "schedule")
    return [
        Figure(
            _("Tasks waiting in the queue"),
            _("not available") if queue.queued is None else str(queue.queued),
            _admin_url(user, "django_q", "ormq") if queue.broker == "orm" else "",
            note=_("broker: %(broker)s") % {"broker": broker},
            warn="queued" in reasons,
        ),
        Figure(
            _("Failed tasks in the last 24 hours"),
            str(queue.failed_24h),
            _admin_url(user, "django_q", "failure"),
            warn="failed_tasks" in reasons,
        ),
        Figure(
            _("Planning last succeeded"),
            _when(queue.plan.last_success, _("never")),
            schedules,
            note=_("next run %(when)s") % {"when": _when(queue.plan.next_run, _("not scheduled"))},
            warn="plan" in reasons,
        ),
        Figure(
            _("Retraining last succeeded"),
            _when(queue.retrain.last_success, _("never")),
            schedules,
            note=_("next run %(when)s")
            % {"when": _when(queue.retrain.next_run, _("not scheduled"))},
            warn="retrain" in reasons,
        ),
    ]


def _model_figures(user, model: selectors.ModelHealth) -> list[Figure]:
    models = _admin_url(user, "recommender", "modelversion")
    live, latest = model.live, model.latest
    return [
        Figure(
            _("Live model"),
            live["label"]
            if live
            else _("none: the planner chooses uniformly among allowed candidates"),
            models,
            note=_("promoted %(when)s") % {"when": _when(live["promoted_at"], "?")} if live else "",
        ),
        Figure(
            _("Last retrain"),
            _when(latest["trained_at"]) if latest else _("never"),
            models,
            note=f"{latest['label']} ({latest['status']})" if latest else "",
        ),
    ]
