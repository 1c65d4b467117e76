"""The recommender's decisions in the Wagtail admin: which kind of message it chose for whom,
on which arm (the live policy or the random control), with what propensity and which model,
and why (the explanation stored with the message). Read-only, scoped to the viewer's creditor.
URL names: `casework_decisions:index`, `casework_decisions:inspect`.
"""

from __future__ import annotations

import json

import django_filters
from django.db.models import QuerySet
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wagtail.admin.filters import WagtailFilterSet
from wagtail.admin.ui.tables import Column

from collections_site.casework import debtor_page as page
from collections_site.casework.base import ReadOnlyViewSet, ScopedIndexView, ScopedInspectView
from collections_site.casework.display import link, local
from collections_site.casework.ledger import _debtor_link
from collections_site.casework.search import query_clean
from messaging.models import Arm, JourneyStage, Message
from messaging.outbox_admin import outbox_url
from recommender.models import Decision


class DecisionFilterSet(WagtailFilterSet):
    arm = django_filters.ChoiceFilter(choices=Arm.choices)
    stage = django_filters.ChoiceFilter(choices=JourneyStage.choices)

    class Meta:
        model = Decision
        fields = ["arm", "stage"]


class DecisionIndexView(ScopedIndexView):
    page_title = gettext_lazy("Decisions")
    creditor_path = "debtor__creditor"
    search_box_placeholder = gettext_lazy("Account or debtor reference")

    def base_queryset(self) -> QuerySet:
        return (
            Decision.objects.select_related("debtor", "account", "model_version")
            .defer("context", "eligible", "model_version__artifact", "model_version__metrics")
            .order_by("-decided_at", "-id")
        )

    def search_queryset(self, queryset: QuerySet) -> QuerySet:
        if not self.is_searching:
            return queryset
        query = query_clean(self.search_query)
        if not query:
            return queryset.none()
        return queryset.filter(account__external_ref__iexact=query) | queryset.filter(
            debtor__external_ref__iexact=query
        )


class DecisionInspectView(ScopedInspectView):
    page_title = gettext_lazy("Decision")
    creditor_path = "debtor__creditor"
    django_admin_link = (gettext_lazy("Fields (Django admin)"), "recommender", "decision")

    def base_queryset(self) -> QuerySet:
        return Decision.objects.select_related(
            "debtor", "account", "model_version", "message"
        ).defer("context", "eligible", "model_version__artifact")

    def facts(self):
        d, viewer = self.object, page.Viewer(self.request.user)
        explanation = d.message.explanation or {}
        message_url = outbox_url(d.message_id) if viewer.may_view(Message) else ""
        return [
            (_("Decided"), local(d.decided_at)),
            (_("Debtor"), _debtor_link(viewer, d.debtor)),
            (_("Account"), page._account_link(viewer, d.account)),
            (_("Arm"), d.get_arm_display()),
            (_("Kind of message"), page.archetype(d)),
            (_("Journey stage"), d.stage),
            (_("Propensity"), f"{d.propensity:.4f}"),
            (_("Eligible candidates"), d.candidates),
            (_("Model"), d.model_version.label if d.model_version else _("(none: no live model)")),
            (_("Why"), explanation.get("why", "")),
            (_("Message"), link(message_url, _("as the debtor received it"))),
            (_("Explanation (all of it)"), _pretty(explanation)),
        ]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        page.debtor_access(self.request, self.object.debtor)
        return context


def _pretty(value) -> object:
    if not value:
        return ""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return format_html('<pre class="cw-pre">{}</pre>', text)


class DecisionViewSet(ReadOnlyViewSet):
    model = Decision
    name = "decisions"
    url_prefix = "casework/decisions"
    url_namespace = "casework_decisions"
    icon = "pick"
    menu_label = gettext_lazy("Decisions")
    menu_name = "decisions"
    menu_order = 50
    index_view_class = DecisionIndexView
    inspect_view_class = DecisionInspectView
    filterset_class = DecisionFilterSet
    search_fields = ["account__external_ref"]  # see DecisionIndexView.search_queryset
    ordering = "-decided_at"
    list_display = [
        "id",  # the title column: opens the decision
        Column(
            "decided",
            label=gettext_lazy("Decided"),
            accessor=lambda d: local(d.decided_at),
            sort_key="decided_at",
        ),
        Column("debtor", label=gettext_lazy("Debtor"), accessor="debtor.external_ref"),
        Column("account", label=gettext_lazy("Account"), accessor="account.external_ref"),
        Column("arm", label=gettext_lazy("Arm"), accessor="get_arm_display"),
        Column("kind", label=gettext_lazy("Kind of message"), accessor=page.archetype),
        Column(
            "propensity", label=gettext_lazy("Propensity"), accessor=lambda d: f"{d.propensity:.3f}"
        ),
        Column(
            "model",
            label=gettext_lazy("Model"),
            accessor=lambda d: d.model_version.label if d.model_version else "-",
        ),
    ]
