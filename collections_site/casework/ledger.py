"""Accounts, payments and payment plans in the Wagtail admin: lists with filters and one page
per row, read-only and scoped to the viewer's creditor.

Balances, statuses and payments change only through `accounts.services`. An open account's
page offers "Recall" (`recall.py`: the API's `account_recall`, with a reason) to users who may
recall; the other operator actions (close, reactivate: `account_transition` through the Django
admin's actions; the CSV upload) stay where they are, one click away from the account's page,
so no business rule is written twice. URL names: `casework_accounts:*`,
`casework_payments:*`, `casework_plans:*` (`index`, `inspect`; accounts also `recall`).
"""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from django.urls import path as url_path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wagtail.admin.filters import WagtailFilterSet
from wagtail.admin.ui.tables import Column, StatusTagColumn

from accounts.models import (
    OPEN_STATUSES,
    Account,
    AccountStatus,
    Creditor,
    Debtor,
    Payment,
    PaymentMethod,
    PaymentPlan,
    PaymentStatus,
    PlanFrequency,
    PlanStatus,
)
from accounts.roles import may_recall
from accounts.tenancy import scope_queryset
from collections_site.casework import debtor_page as page
from collections_site.casework.base import (
    ReadOnlyViewSet,
    ScopedIndexView,
    ScopedInspectView,
    Table,
    django_admin_url,
)
from collections_site.casework.display import amount, link, local
from collections_site.casework.recall import AccountRecallView, recall_url
from collections_site.casework.search import query_clean


def _creditor_filter():
    return django_filters.ModelChoiceFilter(
        queryset=lambda request: scope_queryset(
            Creditor.objects.order_by("name"), request.user, "pk"
        )
    )


def _ref_search(queryset: QuerySet, raw: str, *paths: str) -> QuerySet:
    query = query_clean(raw)
    if not query:
        return queryset.none()
    match = Q()
    for path in paths:
        match |= Q(**{f"{path}__icontains": query})
    return queryset.filter(match)


def _debtor_link(viewer: page.Viewer, debtor) -> object:
    url = page.inspect_url("debtors", debtor.pk) if viewer.may_view(Debtor) else ""
    return link(url, f"{debtor.full_name} ({debtor.external_ref})")


# --- accounts ----------------------------------------------------------------------------------


OPEN = "open"


class AccountFilterSet(WagtailFilterSet):
    status = django_filters.ChoiceFilter(
        choices=[
            (OPEN, gettext_lazy("Open (any status still being collected)")),
            *AccountStatus.choices,
        ],
        method="by_status",
    )
    currency = django_filters.CharFilter(lookup_expr="iexact", label=gettext_lazy("Currency"))
    creditor = _creditor_filter()

    class Meta:
        model = Account
        fields = ["status", "currency", "creditor"]

    def by_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == OPEN:
            return queryset.filter(status__in=list(OPEN_STATUSES))
        return queryset.filter(status=value)


class AccountIndexView(ScopedIndexView):
    page_title = gettext_lazy("Accounts")
    search_box_placeholder = gettext_lazy("Account or debtor reference")

    def base_queryset(self) -> QuerySet:
        return Account.objects.select_related("creditor", "debtor").order_by("-id")

    def search_queryset(self, queryset: QuerySet) -> QuerySet:
        if not self.is_searching:
            return queryset
        return _ref_search(queryset, self.search_query, "external_ref", "debtor__external_ref")


class AccountInspectView(ScopedInspectView):
    page_title = gettext_lazy("Account")

    def base_queryset(self) -> QuerySet:
        return Account.objects.select_related("creditor", "debtor")

    def links(self):
        user, account = self.request.user, self.object
        change_list = ""
        if user.has_perm("accounts.change_account") and account.status in OPEN_STATUSES:
            # The Django admin's actions (recall, close, ...) on this one account.
            url = django_admin_url(user, "accounts", "account")
            change_list = f"{url}?id__exact={account.pk}" if url else ""
        recall = recall_url(account) if may_recall(user) and account.is_open else ""
        return [
            (_("Recall"), recall, "redirect"),
            (_("Change status (Django admin)"), change_list, "cog"),
            (
                _("Fields (Django admin)"),
                django_admin_url(user, "accounts", "account", "change", account.pk),
                "code",
            ),
        ]

    def facts(self):
        a = self.object
        return [
            (_("Reference"), a.external_ref),
            (_("Debtor"), _debtor_link(page.Viewer(self.request.user), a.debtor)),
            (_("Creditor"), a.creditor.name),
            (_("Status"), a.get_status_display()),
            (_("Status since"), local(a.status_changed_at)),
            (_("Paused until"), local(a.paused_until)),
            (_("Balance"), amount(a.current_balance, a.currency)),
            (_("Original amount"), amount(a.original_amount, a.currency)),
            (_("Description"), a.description),
            (_("Due date"), local(a.due_date)),
            (_("Placed"), local(a.placed_at)),
        ]

    def tables(self) -> list[Table]:
        viewer, account = page.Viewer(self.request.user), self.object
        payments = Payment.objects.filter(account=account).order_by("-received_at", "-id")
        plans = PaymentPlan.objects.filter(account=account).order_by("-created_at", "-id")
        url = lambda name, pk: page.inspect_url(name, pk)  # noqa: E731
        return [
            Table(
                _("Payments"),
                "payments",
                [_("Received"), _("Amount"), _("Method"), _("Status"), _("Provider reference")],
                [
                    [
                        link(url("payments", p.pk), local(p.received_at)),
                        amount(p.amount, p.currency),
                        p.get_method_display(),
                        p.get_status_display(),
                        p.provider_reference,
                    ]
                    for p in payments[: page.LATEST]
                ],
                empty=_("No payments."),
            ),
            Table(
                _("Payment plans"),
                "plans",
                [_("Plan"), _("Frequency"), _("Instalments"), _("Total"), _("Status"), _("Agreed")],
                [
                    [
                        link(url("plans", p.pk), p.pk),
                        p.get_frequency_display(),
                        p.instalment_count,
                        amount(p.total_amount, account.currency),
                        p.get_status_display(),
                        local(p.created_at),
                    ]
                    for p in plans
                ],
                empty=_("No payment plans."),
            ),
            page.timeline_table(viewer, account.debtor, None, account=account),
        ]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        page.debtor_access(self.request, self.object.debtor)
        return context


class AccountViewSet(ReadOnlyViewSet):
    model = Account
    name = "accounts"
    url_prefix = "casework/accounts"
    url_namespace = "casework_accounts"
    icon = "doc-full"
    menu_label = gettext_lazy("Accounts")
    menu_name = "accounts"
    menu_order = 20
    index_view_class = AccountIndexView
    inspect_view_class = AccountInspectView
    filterset_class = AccountFilterSet

    def get_urlpatterns(self):
        return [
            *super().get_urlpatterns(),
            url_path(f"<{self.pk_path_converter}:pk>/recall/", AccountRecallView.as_view(),
                     name="recall"),
        ]  # fmt: skip

    search_fields = ["external_ref"]  # see AccountIndexView.search_queryset
    ordering = "-id"
    list_display = [
        "external_ref",  # the title column: opens the account
        Column("debtor", label=gettext_lazy("Debtor"), accessor=lambda a: a.debtor.full_name),
        StatusTagColumn(
            "status",
            label=gettext_lazy("Status"),
            accessor="get_status_display",
            primary=lambda a: a.status in OPEN_STATUSES,
            sort_key="status",
        ),
        Column(
            "balance",
            label=gettext_lazy("Balance"),
            accessor=lambda a: amount(a.current_balance, a.currency),
            sort_key="current_balance",
        ),
        Column(
            "placed",
            label=gettext_lazy("Placed"),
            accessor=lambda a: local(a.placed_at),
            sort_key="placed_at",
        ),
        Column("creditor", label=gettext_lazy("Creditor"), accessor="creditor.name"),
    ]


# --- payments ----------------------------------------------------------------------------------


class PaymentFilterSet(WagtailFilterSet):
    status = django_filters.ChoiceFilter(choices=PaymentStatus.choices)
    method = django_filters.ChoiceFilter(choices=PaymentMethod.choices)
    creditor = _creditor_filter()

    class Meta:
        model = Payment
        fields = ["status", "method", "creditor"]


class PaymentIndexView(ScopedIndexView):
    page_title = gettext_lazy("Payments")
    search_box_placeholder = gettext_lazy("Account reference or provider reference")

    def base_queryset(self) -> QuerySet:
        return Payment.objects.select_related("account", "creditor").order_by("-received_at", "-id")

    def search_queryset(self, queryset: QuerySet) -> QuerySet:
        if not self.is_searching:
            return queryset
        return _ref_search(
            queryset, self.search_query, "account__external_ref", "provider_reference"
        )


class PaymentInspectView(ScopedInspectView):
    page_title = gettext_lazy("Payment")
    django_admin_link = (gettext_lazy("Fields (Django admin)"), "accounts", "payment")

    def base_queryset(self) -> QuerySet:
        return Payment.objects.select_related("account__debtor", "creditor")

    def facts(self):
        p, viewer = self.object, page.Viewer(self.request.user)
        return [
            (_("Amount"), amount(p.amount, p.currency)),
            (_("Received"), local(p.received_at)),
            (_("Account"), page._account_link(viewer, p.account)),
            (_("Debtor"), _debtor_link(viewer, p.account.debtor)),
            (_("Method"), p.get_method_display()),
            (_("Status"), p.get_status_display()),
            (_("Provider"), p.provider),
            (_("Provider reference"), p.provider_reference),
            (_("Idempotency key"), p.idempotency_key),
            (_("Recorded"), local(p.created_at)),
        ]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        page.debtor_access(self.request, self.object.account.debtor)
        return context


class PaymentViewSet(ReadOnlyViewSet):
    model = Payment
    name = "payments"
    url_prefix = "casework/payments"
    url_namespace = "casework_payments"
    icon = "success"
    menu_label = gettext_lazy("Payments")
    menu_name = "payments"
    menu_order = 30
    index_view_class = PaymentIndexView
    inspect_view_class = PaymentInspectView
    filterset_class = PaymentFilterSet
    search_fields = ["provider_reference"]  # see PaymentIndexView.search_queryset
    ordering = "-received_at"
    list_display = [
        "id",  # the title column: opens the payment
        Column(
            "received",
            label=gettext_lazy("Received"),
            accessor=lambda p: local(p.received_at),
            sort_key="received_at",
        ),
        Column(
            "amount", label=gettext_lazy("Amount"), accessor=lambda p: amount(p.amount, p.currency)
        ),
        Column("method", label=gettext_lazy("Method"), accessor="get_method_display"),
        Column("status", label=gettext_lazy("Status"), accessor="get_status_display"),
        Column("account", label=gettext_lazy("Account"), accessor="account.external_ref"),
        Column("creditor", label=gettext_lazy("Creditor"), accessor="creditor.name"),
    ]


# --- payment plans -----------------------------------------------------------------------------


class PlanFilterSet(WagtailFilterSet):
    status = django_filters.ChoiceFilter(choices=PlanStatus.choices)
    frequency = django_filters.ChoiceFilter(choices=PlanFrequency.choices)

    class Meta:
        model = PaymentPlan
        fields = ["status", "frequency"]


class PlanIndexView(ScopedIndexView):
    page_title = gettext_lazy("Payment plans")
    creditor_path = "account__creditor"
    search_box_placeholder = gettext_lazy("Account reference")

    def base_queryset(self) -> QuerySet:
        return PaymentPlan.objects.select_related("account__debtor").order_by("-id")

    def search_queryset(self, queryset: QuerySet) -> QuerySet:
        if not self.is_searching:
            return queryset
        return _ref_search(queryset, self.search_query, "account__external_ref")


class PlanInspectView(ScopedInspectView):
    page_title = gettext_lazy("Payment plan")
    creditor_path = "account__creditor"
    django_admin_link = (gettext_lazy("Fields (Django admin)"), "accounts", "paymentplan")

    def base_queryset(self) -> QuerySet:
        return PaymentPlan.objects.select_related("account__debtor")

    def facts(self):
        p, viewer = self.object, page.Viewer(self.request.user)
        return [
            (_("Account"), page._account_link(viewer, p.account)),
            (_("Debtor"), _debtor_link(viewer, p.account.debtor)),
            (_("Status"), p.get_status_display()),
            (_("Frequency"), p.get_frequency_display()),
            (_("Instalments"), p.instalment_count),
            (_("Total"), amount(p.total_amount, p.account.currency)),
            (_("Agreed"), local(p.created_at)),
        ]

    def tables(self) -> list[Table]:
        currency = self.object.account.currency
        rows = [
            [
                i.sequence,
                local(i.due_date),
                amount(i.amount, currency),
                amount(i.amount_paid, currency),
                i.get_status_display(),
                local(i.paid_at),
            ]
            for i in self.object.installments.order_by("sequence")
        ]
        return [
            Table(
                _("Instalments"),
                "instalments",
                [_("#"), _("Due"), _("Amount"), _("Paid"), _("Status"), _("Paid at")],
                rows,
                empty=_("No instalments."),
            )
        ]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        page.debtor_access(self.request, self.object.account.debtor)
        return context


class PlanViewSet(ReadOnlyViewSet):
    model = PaymentPlan
    name = "plans"
    url_prefix = "casework/plans"
    url_namespace = "casework_plans"
    icon = "date"
    menu_label = gettext_lazy("Payment plans")
    menu_name = "plans"
    menu_order = 40
    index_view_class = PlanIndexView
    inspect_view_class = PlanInspectView
    filterset_class = PlanFilterSet
    search_fields = ["account__external_ref"]  # see PlanIndexView.search_queryset
    ordering = "-id"
    list_display = [
        "id",  # the title column: opens the plan
        Column("account", label=gettext_lazy("Account"), accessor="account.external_ref"),
        Column(
            "debtor", label=gettext_lazy("Debtor"), accessor=lambda p: p.account.debtor.full_name
        ),
        Column("frequency", label=gettext_lazy("Frequency"), accessor="get_frequency_display"),
        Column("count", label=gettext_lazy("Instalments"), accessor="instalment_count"),
        Column(
            "total",
            label=gettext_lazy("Total"),
            accessor=lambda p: amount(p.total_amount, p.account.currency),
        ),
        Column("status", label=gettext_lazy("Status"), accessor="get_status_display"),
        Column(
            "agreed",
            label=gettext_lazy("Agreed"),
            accessor=lambda p: local(p.created_at),
            sort_key="created_at",
        ),
    ]
