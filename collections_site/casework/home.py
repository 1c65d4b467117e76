"""The admin's home page, made for collections work.

Wagtail's home page counts pages, images and documents and searches pages: nothing an
operator works on. Through Wagtail's own hook (`construct_homepage_summary_items`, wired in
`wagtail_hooks.py`) its summary counts what they do work on instead, each count scoped to the
viewer's creditor and linking to the list it counts: debtors, open accounts, and live message
variants (for those who edit the message library). The search box under it searches debtors
by reference, name, e-mail or phone (the debtors' list, `search.py`): the template
`templates/wagtailadmin/home.html` overrides Wagtail's own, same layout, for that form only.
The panels below (the cockpit's headline, the work queues) come from
`construct_homepage_panels` hooks in `operations` and `queues`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.humanize.templatetags.humanize import intcomma
from django.db.models import Model, QuerySet
from django.urls import reverse
from django.utils.translation import ngettext
from wagtail.admin.site_summary import SummaryItem

from accounts.models import OPEN_STATUSES, Account, Debtor
from accounts.tenancy import scope_queryset
from collections_site.casework.debtor_page import Viewer
from messaging.models import MessageVariant


@dataclass(frozen=True)
class Count:
    """One figure of the summary: what it counts for a user, its words, icon and list."""

    model: type[Model]
    rows: Callable[[object], QuerySet]
    words: Callable[[int], str]  # "%(n)s debtors", with its plural
    icon: str
    url: Callable[[], str]
    order: int


class CountSummaryItem(SummaryItem):
    template_name = "casework/home/summary_item.html"

    def __init__(self, request, count: Count) -> None:
        super().__init__(request)
        self.count = count
        self.order = count.order

    def is_shown(self) -> bool:
        return Viewer(self.request.user).may_view(self.count.model)

    def get_context_data(self, parent_context=None) -> dict:
        n = self.count.rows(self.request.user).count()
        return {
            "icon": self.count.icon,
            "url": self.count.url(),
            "text": self.count.words(n) % {"n": intcomma(n)},
        }


COUNTS = (
    Count(
        model=Debtor,
        rows=lambda user: scope_queryset(Debtor.objects.all(), user, "creditor"),
        words=lambda n: ngettext("%(n)s debtor", "%(n)s debtors", n),
        icon="user",
        url=lambda: reverse("casework_debtors:index"),
        order=100,
    ),
    Count(
        model=Account,
        rows=lambda user: scope_queryset(
            Account.objects.filter(status__in=list(OPEN_STATUSES)), user, "creditor"
        ),
        words=lambda n: ngettext("%(n)s open account", "%(n)s open accounts", n),
        icon="folder-open-inverse",
        url=lambda: reverse("casework_accounts:index") + "?status=open",
        order=200,
    ),
    Count(
        model=MessageVariant,
        rows=lambda user: MessageVariant.objects.filter(live=True),
        words=lambda n: ngettext("%(n)s live message variant", "%(n)s live message variants", n),
        icon="mail",
        url=lambda: reverse("wagtailsnippets_messaging_messagevariant:list"),
        order=300,
    ),
)


def summary_items_replace(request, items: list) -> None:
    """`construct_homepage_summary_items`: Wagtail's pages, images and documents out, the
    collection's own counts in."""
    items[:] = [CountSummaryItem(request, count) for count in COUNTS]


def debtor_search_url(user) -> str:
    """Where the home page's search box sends its query; empty when the user may not see
    debtors (the box is not shown)."""
    return reverse("casework_debtors:index") if Viewer(user).may_view(Debtor) else ""
