"""The call-backs queue: open call backs of the creditors the operator may see, earliest
window first, each window on the debtor's clock and the operator's; whether the debtor may be
called right now (the compliance engine's answer for the call channel, with its reason when
not); one page per call back to assign it and log the call's outcome (docs/queues.md).

Every change goes through `portal.services` (`callback_assign`, `callback_outcome_log`); the
outcome enters the contact ledger through `compliance.services.contact_record`, so the caps
count it.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.contrib import messages
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from wagtail.admin.filters import WagtailFilterSet
from wagtail.admin.ui.tables import Column
from wagtail.admin.views import generic

from accounts.models import ActivityKind, Channel, DomainError
from accounts.services import debtor_data_access_record
from collections_site.queues.common import (
    PauseAccountsBulk,
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
from collections_site.queues.disputes import AssignedFilter
from compliance import services as compliance
from compliance.models import ContactAttempt
from portal import services
from portal.models import CallbackRequest, CallbackStatus, CallOutcome

NAMESPACE = "queues_callbacks"


def callbacks_for(user) -> QuerySet[CallbackRequest]:
    """The call backs `user` may see (their creditors'), with what the queue shows."""
    return scoped(
        CallbackRequest.objects.select_related("debtor", "account", "assigned_to"),
        user,
        "debtor__creditor",
    )


def callback_title(callback: CallbackRequest) -> str:
    return item_title(callback.account, callback.debtor)


def _window(callback: CallbackRequest, clock: str) -> str:
    """The call back's window on the debtor's clock (with the zone's name) or the operator's."""
    if clock == "debtor":
        start = debtor_time(callback.window_start, callback.debtor, "D Y-m-d H:i")
        end = debtor_time(callback.window_end, callback.debtor, "H:i")
        start, zone = start.rsplit(" (", 1)
        return f"{start} to {end.split(' (')[0]} ({zone}"
    return f"{operator_time(callback.window_start)} to {operator_time(callback.window_end, 'H:i')}"


def _may_call(callback: CallbackRequest) -> str:
    """The engine's answer right now (not audited: a list; the item's page audits it). The
    index asks for its whole page at once (`CallbackIndexView`)."""
    if callback.status != CallbackStatus.OPEN:
        return ""
    check = getattr(callback, "call_check", None)
    if check is None:
        check = services.callback_call_check(callback=callback, audit=False)
    if check.allowed:
        return str(_("Yes"))
    reason = check.reasons[0]["message"] if check.reasons else ""
    # Shortened with "…" (Django's Truncator), so a cut reason reads as cut; the item's page
    # has it whole.
    return Truncator(f"{_('No')}: {reason}").chars(120)


class CallbackFilterSet(WagtailFilterSet):
    status = django_filters.ChoiceFilter(
        choices=CallbackStatus.choices, empty_label=_("Open"), method="by_status"
    )
    assigned_to = AssignedFilter(label=_("Assigned"))

    class Meta:
        model = CallbackRequest
        fields = ["status", "assigned_to"]

    def by_status(self, queryset, name, value):
        return queryset.filter(status=value) if value else queryset


class CallbackIndexView(QueueIndexView):
    page_title = _("Call-backs")

    def item_title(self, item) -> str:
        return callback_title(item)

    def get_base_queryset(self) -> QuerySet:
        queryset = callbacks_for(self.request.user)
        if not self.request.GET.get("status"):
            queryset = queryset.filter(status=CallbackStatus.OPEN)
        return queryset

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # One batch of compliance checks for the page's open call backs (a constant number of
        # queries), read by the "May I call now?" column when the table renders.
        page = [c for c in context["object_list"] if c.status == CallbackStatus.OPEN]
        now = timezone.now()
        checks = compliance.contacts_check_many(
            checks=[
                compliance.CheckRequest(
                    debtor=c.debtor, channel=Channel.CALL, at=now, account=c.account,
                    purpose="callback",
                )
                for c in page
            ],
            audit=False,
        )  # fmt: skip
        for callback, check in zip(page, checks, strict=True):
            callback.call_check = check
        return context


class AssignCallbacksToMeBulk(QueueBulkAction):
    models = [CallbackRequest]
    queue = staticmethod(callbacks_for)
    title = staticmethod(callback_title)
    display_name = _("Assign to me")
    action_type = "assign_to_me"
    aria_label = _("Assign the selected call-backs to me")
    confirm_text = _("Assign these call-backs to you?")

    @classmethod
    def execute_action(cls, objects, request=None, **kwargs):
        done = 0
        for callback in objects:
            if callback.status == CallbackStatus.OPEN:
                services.callback_assign(callback=callback, user=request.user, actor=actor(request))
                done += 1
        return done, 0


class PauseCallbackAccountsBulk(PauseAccountsBulk):
    models = [CallbackRequest]
    queue = staticmethod(callbacks_for)
    title = staticmethod(callback_title)
    account_of = staticmethod(lambda callback: callback.account)
    creditor_of = staticmethod(lambda callback: callback.debtor.creditor_id)
    aria_label = _("Pause collection on the accounts of the selected call-backs")
    confirm_text = _("Pause collection on the accounts of these call-backs?")


BULK_ACTIONS = [AssignCallbacksToMeBulk, PauseCallbackAccountsBulk]


class OutcomeForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("What happened"), choices=CallOutcome.choices, widget=forms.RadioSelect
    )
    promise_amount = forms.DecimalField(
        label=_("Amount promised"), required=False, min_value=0.01, decimal_places=2
    )
    promise_date = forms.DateField(
        label=_("Promised by (debtor's date)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    note = forms.CharField(
        label=_("Note (staff only)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean(self):
        data = super().clean()
        if data.get("outcome") == CallOutcome.PROMISE:
            if data.get("promise_amount") is None and "promise_amount" not in self.errors:
                self.add_error("promise_amount", _("Enter the amount promised."))
            if data.get("promise_date") is None and "promise_date" not in self.errors:
                self.add_error("promise_date", _("Enter the date promised."))
        return data


class CallbackInspectView(generic.InspectView):
    """The call back on both clocks, the audited "may I call now" answer, and its actions."""

    template_name = "queues/callback_inspect.html"

    def get_object(self, queryset=None) -> CallbackRequest:
        return get_object_or_404(callbacks_for(self.request.user), pk=self.pk)

    def get_page_subtitle(self):
        return callback_title(self.object)

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        if not may_act(request.user, CallbackRequest):
            messages.error(request, _("You may look at call-backs but not change them."))
            return redirect(request.path)
        action = request.POST.get("action", "")
        try:
            if action == "outcome":
                form = OutcomeForm(request.POST)
                if not form.is_valid():
                    return self.render_to_response(self.get_context_data(outcome_form=form))
                try:
                    services.callback_outcome_log(
                        callback=self.object,
                        outcome=form.cleaned_data["outcome"],
                        note=form.cleaned_data["note"],
                        promise_amount=form.cleaned_data["promise_amount"],
                        promise_date=form.cleaned_data["promise_date"],
                        actor=actor(request),
                    )
                except services.CallbackError as exc:
                    form.add_error(exc.field, str(exc))
                    return self.render_to_response(self.get_context_data(outcome_form=form))
                messages.success(request, _("Call logged."))
            elif action in ("assign_me", "unassign"):
                user = request.user if action == "assign_me" else None
                services.callback_assign(callback=self.object, user=user, actor=actor(request))
                messages.success(request, _("Assignment saved."))
            else:
                messages.error(request, _("Unknown action."))
        except DomainError as exc:
            messages.error(request, str(exc))
        return redirect(request.path)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        callback = self.object
        debtor_data_access_record(
            user=self.request.user, debtor=callback.debtor, page=self.request.path
        )
        is_open = callback.status == CallbackStatus.OPEN
        check = services.callback_call_check(callback=callback) if is_open else None
        context.update(
            callback=callback,
            debtor=callback.debtor,
            is_open=is_open,
            check=check,
            next_allowed_operator=operator_time(check.next_allowed_at) if check else "",
            next_allowed_debtor=debtor_time(check.next_allowed_at, callback.debtor)
            if check and check.next_allowed_at
            else "",
            window_debtor=_window(callback, "debtor"),
            window_operator=_window(callback, "operator"),
            zone=operator_zone_name(),
            may_act=may_act(self.request.user, CallbackRequest),
            outcome_form=kwargs.get("outcome_form") or OutcomeForm(),
            timeline=_timeline(callback),
        )
        return context


def _timeline(callback: CallbackRequest):
    """The call back's timeline entries: its own, and the contact its call was logged as."""
    attempts = list(
        ContactAttempt.objects.filter(reference=f"callback:{callback.pk}").values_list(
            "pk", flat=True
        )
    )
    return callback.debtor.activities.filter(
        Q(data__callback_id=callback.pk)
        | Q(kind=ActivityKind.CONTACT_RECORDED, data__contact_attempt__in=attempts)
    ).order_by("occurred_at", "id")


class CallbackViewSet(QueueViewSet):
    model = CallbackRequest
    name = "callbacks"
    url_prefix = "queues/callbacks"
    url_namespace = NAMESPACE
    icon = "mobile-alt"
    menu_label = _("Call-backs")
    menu_order = 20
    index_view_class = CallbackIndexView
    inspect_view_class = CallbackInspectView
    filterset_class = CallbackFilterSet
    search_fields = ["debtor__external_ref"]
    ordering = ["window_start", "id"]
    list_display = [
        "__str__",
        Column(
            "window_start",
            label=_("Window (debtor's clock)"),
            accessor=lambda c: _window(c, "debtor"),
            sort_key="window_start",
        ),
        Column(
            "window_operator",
            label=_("Window (your clock)"),
            accessor=lambda c: _window(c, "operator"),
        ),
        Column("may_call", label=_("May I call now?"), accessor=_may_call),
        Column("status", label=_("Status"), accessor="get_status_display"),
        Column(
            "assigned_to",
            label=_("Assigned to"),
            accessor=lambda c: c.assigned_to.get_username() if c.assigned_to else "—",
        ),
    ]
