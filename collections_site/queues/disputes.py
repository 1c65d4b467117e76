"""The disputes queue: every open dispute of the creditors the operator may see, soonest
deadline first, overdue ones marked; one page per dispute to assign it, mark it waiting for
the creditor's evidence, and resolve it with an outcome and a note (docs/queues.md).

Every change goes through `portal.services` (`dispute_assign`, `dispute_wait`,
`dispute_resolve`), which write the timeline entry in the same transaction and send the
outcome to the debtor through `message_send`.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.contrib import messages
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from wagtail.admin.filters import WagtailFilterSet
from wagtail.admin.ui.tables import Column, StatusTagColumn
from wagtail.admin.views import generic

from accounts.models import DomainError
from accounts.roles import sees_dispute_evidence
from accounts.services import debtor_data_access_record
from collections_site.queues.common import (
    QueueBulkAction,
    QueueIndexView,
    QueueViewSet,
    actor,
    debtor_time,
    item_title,
    may_act,
    operator_time,
    operator_zone_name,
    scoped,
)
from messaging.outbox_admin import outbox_url
from portal import services
from portal.models import DISPUTE_RESOLVED, DisputeStatus, PortalDispute

NAMESPACE = "queues_disputes"
UNRESOLVED = (DisputeStatus.OPEN, DisputeStatus.AWAITING_EVIDENCE)


def disputes_for(user) -> QuerySet[PortalDispute]:
    """The disputes `user` may see (their creditors'), with what the queue shows."""
    return scoped(
        PortalDispute.objects.select_related("account__debtor", "account__creditor", "assigned_to"),
        user,
        "account__creditor",
    )


def dispute_title(dispute: PortalDispute) -> str:
    return item_title(dispute.account, dispute.account.debtor)


def is_overdue(dispute: PortalDispute) -> bool:
    return bool(dispute.status in UNRESOLVED and dispute.due_at and dispute.due_at < timezone.now())


def _deadline(dispute: PortalDispute):
    text = operator_time(dispute.due_at, "Y-m-d")
    if is_overdue(dispute):
        return format_html('<span class="queue-overdue">{} ({})</span>', text, _("overdue"))
    return text


class AssignedFilter(django_filters.ChoiceFilter):
    def __init__(self, **kwargs):
        choices = [("me", _("Waiting for me")), ("nobody", _("Unassigned"))]
        super().__init__(choices=choices, method=self.by_assignee, **kwargs)

    def by_assignee(self, queryset, name, value):
        if value == "me":
            return queryset.filter(**{name: self.parent.request.user})
        if value == "nobody":
            return queryset.filter(**{f"{name}__isnull": True})
        return queryset


class DisputeFilterSet(WagtailFilterSet):
    status = django_filters.ChoiceFilter(
        choices=DisputeStatus.choices, empty_label=_("Unresolved"), method="by_status"
    )
    assigned_to = AssignedFilter(label=_("Assigned"))
    overdue = django_filters.BooleanFilter(label=_("Overdue"), method="by_overdue")

    class Meta:
        model = PortalDispute
        fields = ["status", "assigned_to", "overdue"]

    def by_status(self, queryset, name, value):
        return queryset.filter(status=value) if value else queryset

    def by_overdue(self, queryset, name, value):
        if value is None:
            return queryset
        late = Q(status__in=UNRESOLVED, due_at__lt=timezone.now())
        return queryset.filter(late) if value else queryset.exclude(late)


class DisputeIndexView(QueueIndexView):
    page_title = _("Disputes")

    def item_title(self, item) -> str:
        return dispute_title(item)

    def get_base_queryset(self) -> QuerySet:
        queryset = disputes_for(self.request.user)
        if not self.request.GET.get("status"):  # unresolved unless a status is chosen
            queryset = queryset.filter(status__in=UNRESOLVED)
        return queryset


class _DisputeBulk(QueueBulkAction):
    models = [PortalDispute]
    queue = staticmethod(disputes_for)
    title = staticmethod(dispute_title)


class AssignToMeBulk(_DisputeBulk):
    display_name = _("Assign to me")
    action_type = "assign_to_me"
    aria_label = _("Assign the selected disputes to me")
    confirm_text = _("Assign these disputes to you?")

    @classmethod
    def execute_action(cls, objects, request=None, **kwargs):
        done = 0
        for dispute in objects:
            if dispute.status in UNRESOLVED:
                services.dispute_assign(dispute=dispute, user=request.user, actor=actor(request))
                done += 1
        return done, 0


class WaitForEvidenceBulk(_DisputeBulk):
    display_name = _("Waiting for evidence")
    action_type = "wait_for_evidence"
    aria_label = _("Mark the selected disputes as waiting for the creditor's evidence")
    confirm_text = _("Mark these disputes as waiting for the creditor's evidence?")

    @classmethod
    def execute_action(cls, objects, request=None, **kwargs):
        done = 0
        for dispute in objects:
            if dispute.status == DisputeStatus.OPEN:
                services.dispute_wait(dispute=dispute, actor=actor(request))
                done += 1
        return done, 0


BULK_ACTIONS = [AssignToMeBulk, WaitForEvidenceBulk]


class ResolveForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        widget=forms.RadioSelect,
        choices=[
            (DisputeStatus.UPHELD, _("Resolved for the debtor: withdraw the debt")),
            (DisputeStatus.DEBT_STANDS, _("The debt stands: collection resumes")),
        ],
    )
    note = forms.CharField(
        label=_("Note (staff only)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class DisputeInspectView(generic.InspectView):
    """The dispute with its deadline, account and debtor, and its actions (POST here)."""

    template_name = "queues/dispute_inspect.html"

    def get_object(self, queryset=None) -> PortalDispute:
        return get_object_or_404(disputes_for(self.request.user), pk=self.pk)

    def get_page_subtitle(self):
        return dispute_title(self.object)

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        if not may_act(request.user, PortalDispute):
            messages.error(request, _("You may look at disputes but not change them."))
            return redirect(request.path)
        action = request.POST.get("action", "")
        try:
            if action == "resolve":
                form = ResolveForm(request.POST)
                if not form.is_valid():
                    return self.render_to_response(self.get_context_data(resolve_form=form))
                services.dispute_resolve(
                    dispute=self.object,
                    upheld=form.cleaned_data["outcome"] == DisputeStatus.UPHELD,
                    note=form.cleaned_data["note"],
                    actor=actor(request),
                )
                messages.success(request, _("Dispute resolved; the debtor is being told."))
            elif action in ("assign_me", "unassign"):
                user = request.user if action == "assign_me" else None
                services.dispute_assign(dispute=self.object, user=user, actor=actor(request))
                messages.success(request, _("Assignment saved."))
            elif action in ("wait", "evidence_arrived"):
                services.dispute_wait(
                    dispute=self.object, waiting=action == "wait", actor=actor(request)
                )
                messages.success(request, _("Status saved."))
            else:
                messages.error(request, _("Unknown action."))
        except DomainError as exc:
            messages.error(request, str(exc))
        return redirect(request.path)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        dispute = self.object
        debtor = dispute.account.debtor
        debtor_data_access_record(user=self.request.user, debtor=debtor, page=self.request.path)
        context.update(
            dispute=dispute,
            debtor=debtor,
            resolved=dispute.status in DISPUTE_RESOLVED,
            overdue=is_overdue(dispute),
            due_operator=operator_time(dispute.due_at),
            due_debtor=debtor_time(dispute.due_at, debtor),
            raised_operator=operator_time(dispute.created_at),
            resolved_operator=operator_time(dispute.resolved_at),
            zone=operator_zone_name(),
            may_act=may_act(self.request.user, PortalDispute),
            show_evidence=sees_dispute_evidence(self.request.user),
            resolve_form=kwargs.get("resolve_form") or ResolveForm(),
            outcome_url=outbox_url(dispute.outcome_message_id)
            if dispute.outcome_message_id
            else "",
            timeline=dispute.account.activities.filter(data__dispute_id=dispute.pk).order_by(
                "occurred_at", "id"
            ),
        )
        return context


class DisputeViewSet(QueueViewSet):
    model = PortalDispute
    name = "disputes"
    url_prefix = "queues/disputes"
    url_namespace = NAMESPACE
    icon = "warning"
    menu_label = _("Disputes")
    menu_order = 10
    index_view_class = DisputeIndexView
    inspect_view_class = DisputeInspectView
    filterset_class = DisputeFilterSet
    search_fields = ["account__external_ref"]
    ordering = ["due_at", "id"]
    list_display = [
        "__str__",
        Column(
            "due_at",
            label=_("Respond by"),
            accessor=_deadline,
            sort_key="due_at",
        ),
        StatusTagColumn(
            "status",
            label=_("Status"),
            accessor="get_status_display",
            primary=lambda d: d.status == DisputeStatus.OPEN,
            sort_key="status",
        ),
        Column("creditor", label=_("Creditor"), accessor="account.creditor.name"),
        Column("reason", label=_("Reason"), accessor="get_reason_display"),
        Column(
            "assigned_to",
            label=_("Assigned to"),
            accessor=lambda d: d.assigned_to.get_username() if d.assigned_to else "—",
        ),
        Column(
            "created_at",
            label=_("Raised"),
            accessor=lambda d: operator_time(d.created_at, "Y-m-d"),
            sort_key="created_at",
        ),
    ]
