"""Operators' daily work in the Wagtail admin (docs/casework.md): a "Collections" menu with
debtors, accounts, payments, payment plans and decisions (read-only viewsets scoped to the
viewer's creditor), the debtors' search as an area of the admin's search, the home page's
summary and search box (`home.py`), and a "Configuration" menu linking to the Django admin
pages where the platform is configured.

Other pages join the "Collections" menu through the `register_casework_menu_item` hook
(`collections_site.casework.base.MENU_HOOK`): a viewset with that `menu_hook`, or a function
registered for it returning a `MenuItem`.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.search import SearchArea
from wagtail.admin.viewsets.base import ViewSetGroup
from wagtail.permissions import register_permission_policy

from accounts.models import Account, Debtor, Payment, PaymentPlan
from accounts.wagtail_readonly import ViewOnlyPermissionPolicy
from collections_site.casework.base import MENU_HOOK
from collections_site.casework.configuration import configuration_menu_item
from collections_site.casework.debtor_page import Viewer
from collections_site.casework.debtors import DebtorViewSet
from collections_site.casework.decisions import DecisionViewSet
from collections_site.casework.home import summary_items_replace
from collections_site.casework.ledger import AccountViewSet, PaymentViewSet, PlanViewSet
from recommender.models import Decision

# Before anything asks Wagtail for these models' policies (it would fall back to the default).
for _model in (Debtor, Account, Payment, PaymentPlan, Decision):
    register_permission_policy(_model, ViewOnlyPermissionPolicy(_model))


class CollectionsViewSetGroup(ViewSetGroup):
    items = (DebtorViewSet, AccountViewSet, PaymentViewSet, PlanViewSet, DecisionViewSet)
    menu_icon = "folder-open-inverse"
    menu_label = _("Collections")
    menu_name = "collections"
    menu_order = 140  # just before Operations
    submenu_hook = MENU_HOOK


@hooks.register("register_admin_viewset")
def register_collections_viewsets():
    return CollectionsViewSetGroup()


class DebtorSearchArea(SearchArea):
    """The admin's search page offers "Debtors": the same query on the debtors' list."""

    def is_shown(self, request) -> bool:
        return Viewer(request.user).may_view(Debtor)


@hooks.register("register_admin_search_area")
def register_debtor_search_area():
    return DebtorSearchArea(
        _("Debtors"),
        reverse("casework_debtors:index"),
        name="debtors",
        icon_name="user",
        order=50,
    )


# Last (a high order), after wagtail.images and wagtail.documents have added their counts.
hooks.register("construct_homepage_summary_items", summary_items_replace, order=1000)


@hooks.register("register_admin_menu_item")
def register_configuration_menu():
    return configuration_menu_item()
