"""The work queues on the Wagtail home page: per queue the items waiting for the signed-in
user, the unassigned ones, all open ones, and the oldest (by deadline, window or failure
time), each figure linking to the rows it counts. Only the queues the user may see, and only
their creditors' items."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_permission_codename
from django.db.models import Count, Min, Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from wagtail.admin.ui.components import Component

from collections_site.queues.callbacks import callbacks_for
from collections_site.queues.common import operator_time
from collections_site.queues.disputes import UNRESOLVED, disputes_for
from collections_site.queues.handoffs import handoffs_for
from messaging.services.handoff import HANDOFF_UNCONFIRMED
from portal.models import CallbackRequest, CallbackStatus, PortalDispute


@dataclass(frozen=True)
class QueueRow:
    name: str
    url: str
    total: int
    mine: int | None  # None: the queue has no assignment
    unassigned: int | None
    oldest: str
    oldest_label: str
    extra: str = ""


def _may_view(user, model) -> bool:
    opts = model._meta
    return user.is_staff and any(
        user.has_perm(f"{opts.app_label}.{get_permission_codename(a, opts)}")
        for a in ("view", "change")
    )


def _assigned_counts(queryset, user):
    return queryset.aggregate(
        total=Count("id"),
        mine=Count("id", filter=Q(assigned_to=user)),
        unassigned=Count("id", filter=Q(assigned_to__isnull=True)),
    )


def queue_rows(user) -> list[QueueRow]:
    """The panel's rows: the queues `user` may see, counted over their creditors' items."""
    rows = []
    if _may_view(user, PortalDispute):
        open_ = disputes_for(user).filter(status__in=UNRESOLVED)
        counts = _assigned_counts(open_, user)
        first = open_.aggregate(due=Min("due_at"))["due"]
        rows.append(
            QueueRow(
                name=_("Disputes"),
                url=reverse("queues_disputes:index"),
                oldest=operator_time(first, "Y-m-d"),
                oldest_label=str(_("earliest deadline")),
                **counts,
            )
        )
    if _may_view(user, CallbackRequest):
        open_ = callbacks_for(user).filter(status=CallbackStatus.OPEN)
        counts = _assigned_counts(open_, user)
        first = open_.aggregate(start=Min("window_start"))["start"]
        rows.append(
            QueueRow(
                name=_("Call-backs"),
                url=reverse("queues_callbacks:index"),
                oldest=operator_time(first),
                oldest_label=str(_("earliest window")),
                **counts,
            )
        )
    if user.is_staff and user.has_perm("messaging.view_message"):
        counts = handoffs_for(user).aggregate(
            total=Count("id"),
            unconfirmed=Count("id", filter=Q(status_reason__startswith=HANDOFF_UNCONFIRMED)),
            first=Min("status_changed_at"),
        )
        rows.append(
            QueueRow(
                name=_("Failed hand-offs"),
                url=reverse("queues_handoffs:index"),
                total=counts["total"],
                mine=None,
                unassigned=None,
                oldest=operator_time(counts["first"]),
                oldest_label=str(_("oldest failure")),
                extra=str(_("%(n)s unconfirmed") % {"n": counts["unconfirmed"]}),
            )
        )
    return rows


class QueuesPanel(Component):
    """The home page panel (registered by `construct_homepage_panels`)."""

    name = "work_queues"
    order = 90
    template_name = "queues/panel.html"

    def __init__(self, request):
        self.request = request

    def get_context_data(self, parent_context=None):
        return {"rows": queue_rows(self.request.user), "user_pk": self.request.user.pk}
