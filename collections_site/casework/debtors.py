"""Debtors in the Wagtail admin: the list with the one search box that finds a debtor
(`casework.search`), and the debtor's page, which gathers everything about them in one place:
accounts and balances, plans and instalments, payments, the timeline, every message (each
opening as the debtor received it), every recommender decision with its explanation and arm,
compliance decisions with their reasons, the typology and the debtor's portal activity.

Opening the page writes one row of the staff access log (docs/privacy.md), as the Django
admin's debtor page does. URL names: `casework_debtors:index`, `casework_debtors:inspect`.
"""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wagtail.admin.filters import WagtailFilterSet
from wagtail.admin.ui.tables import Column

from accounts.models import Creditor, Debtor, DebtorFlag
from accounts.tenancy import scope_queryset
from collections_site.casework import debtor_page as page
from collections_site.casework.base import (
    ReadOnlyViewSet,
    ScopedIndexView,
    ScopedInspectView,
    Table,
    django_admin_url,
)
from collections_site.casework.display import debtor_zone, local, on_clock
from collections_site.casework.portal_activity import portal_tables
from collections_site.casework.search import debtors_search
from messaging.models import Message
from recommender.models import DebtorTypology, Decision

_FLAG_LABELS = dict(DebtorFlag.choices)


class DebtorFilterSet(WagtailFilterSet):
    creditor = django_filters.ModelChoiceFilter(
        queryset=lambda request: scope_queryset(
            Creditor.objects.order_by("name"), request.user, "pk"
        )
    )
    region = django_filters.CharFilter(lookup_expr="iexact", label=gettext_lazy("Region"))

    class Meta:
        model = Debtor
        fields = ["creditor", "region"]


class DebtorIndexView(ScopedIndexView):
    page_title = gettext_lazy("Debtors")
    search_box_placeholder = gettext_lazy("Reference, name, e-mail or phone")

    def base_queryset(self) -> QuerySet:
        return Debtor.objects.select_related("creditor").order_by("-id")

    @cached_property
    def columns(self):
        columns = super().columns  # the title column is the reference
        columns[0].label = gettext_lazy("Reference")
        return columns

    def search_queryset(self, queryset: QuerySet) -> QuerySet:
        if not self.is_searching:
            return queryset
        return debtors_search(queryset, self.search_query, ranked=not self.is_explicitly_ordered)


class DebtorInspectView(ScopedInspectView):
    """The debtor's page."""

    page_title = gettext_lazy("Debtor")

    def base_queryset(self) -> QuerySet:
        return Debtor.objects.select_related("creditor", "typology")

    def links(self):
        user, pk = self.request.user, self.object.pk
        activity = django_admin_url(user, "accounts", "activity")
        return [
            (
                _("Edit details (Django admin)"),
                django_admin_url(user, "accounts", "debtor", "change", pk),
                "edit",
            ),
            (
                _("Whole timeline"),
                f"{activity}?debtor__id__exact={pk}" if activity else "",
                "list-ul",
            ),
        ]

    def facts(self):
        d = self.object
        zone = debtor_zone(d.timezone)
        hours = ""
        if d.preferred_hours_start and d.preferred_hours_end:
            hours = f"{d.preferred_hours_start:%H:%M}-{d.preferred_hours_end:%H:%M}"
        return [
            (_("Name"), d.full_name),
            (_("Reference"), d.external_ref),
            (_("Creditor"), d.creditor.name),
            (_("E-mail"), d.email),
            (_("Phone"), d.phone),
            (_("Address"), _address(d)),
            (_("Region"), d.region),
            (_("Time zone"), d.timezone),
            (_("Debtor's clock now"), on_clock(timezone.now(), zone)),
            (_("Language"), d.language),
            (_("Flags"), ", ".join(str(_FLAG_LABELS.get(f, f)) for f in d.flags or [])),
            (_("Preferred channel"), d.get_preferred_channel_display()),
            (_("Preferred hours (debtor's clock)"), hours),
            (_("Placed"), local(d.created_at)),
            (_("Personal data erased"), local(d.erased_at)),
        ]

    def tables(self) -> list[Table]:
        viewer, debtor = page.Viewer(self.request.user), self.object
        zone = debtor_zone(debtor.timezone)
        accounts = list(debtor.accounts.order_by("-placed_at", "-id"))
        tables = [page.accounts_table(viewer, accounts), *page.plans_tables(viewer, debtor)]
        tables.append(page.payments_table(viewer, debtor))
        tables.append(page.timeline_table(viewer, debtor, zone))
        if viewer.may_view(Message):
            tables.append(page.messages_table(viewer, debtor, zone))
        if viewer.may_view(Decision):
            tables.append(page.decisions_table(viewer, debtor))
        if viewer.may_view_django("compliance", "compliancedecision"):
            tables.append(page.compliance_table(debtor))
        tables.extend(portal_tables(viewer, debtor, zone))
        return tables

    def typology(self) -> DebtorTypology | None:
        if not self.request.user.has_perm("recommender.view_debtortypology"):
            return None
        try:
            return self.object.typology
        except DebtorTypology.DoesNotExist:
            return None

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        page.debtor_access(self.request, self.object)
        context.update(
            typology=self.typology(),
            show_typology=self.request.user.has_perm("recommender.view_debtortypology"),
            debtor_zone=self.object.timezone,
        )
        return context


def _address(debtor: Debtor) -> str:
    parts = [debtor.address_line1, debtor.address_line2, debtor.postal_code, debtor.city]
    return ", ".join(p for p in parts if p)


def _name(debtor: Debtor) -> str:
    return debtor.full_name


class DebtorViewSet(ReadOnlyViewSet):
    model = Debtor
    name = "debtors"
    url_prefix = "casework/debtors"
    url_namespace = "casework_debtors"
    icon = "user"
    menu_label = gettext_lazy("Debtors")
    menu_name = "debtors"
    menu_order = 10
    index_view_class = DebtorIndexView
    inspect_view_class = DebtorInspectView
    filterset_class = DebtorFilterSet
    search_fields = ["external_ref"]  # see DebtorIndexView.search_queryset
    ordering = "-id"
    list_display = [
        "external_ref",  # the title column: opens the debtor's page
        Column("name", label=gettext_lazy("Name"), accessor=_name, sort_key="last_name"),
        Column("email", label=gettext_lazy("E-mail")),
        Column("phone", label=gettext_lazy("Phone")),
        Column("region", label=gettext_lazy("Region"), sort_key="region"),
        Column("creditor", label=gettext_lazy("Creditor"), accessor="creditor.name"),
    ]
