"""What every casework page shares: a read-only `ModelViewSet` whose index and inspect views
are scoped to the viewer's creditor, and the inspect page's template fed with plain facts and
tables (the view-only permission policy each model registers is
`accounts.wagtail_readonly.ViewOnlyPermissionPolicy`).

Scoping: each viewset names `creditor_path`, the lookup from its model to `Creditor`; the list,
its search, its results fragment and the inspect page all go through
`accounts.tenancy.scope_queryset`, so another creditor's row is not listed and its page answers
404, exactly like a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from wagtail.admin.views import generic
from wagtail.admin.viewsets.model import ModelViewSet
from wagtail.admin.widgets.button import HeaderButton

from accounts.tenancy import scope_queryset
from accounts.wagtail_readonly import ReadOnlyViewSetMixin

MENU_HOOK = "register_casework_menu_item"

# --- what the inspect template shows -----------------------------------------------------------


@dataclass
class Table:
    """One titled table of the inspect page. Cells are text (escaped) or `format_html` output;
    `empty` is said when there are no rows, `note` under the title."""

    title: str
    anchor: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    empty: str = ""
    note: str = ""


def django_admin_url(user, app: str, model: str, view: str = "changelist", *args) -> str:
    """A Django admin page (`changelist`, `change`, ...) if this user may see it there."""
    if not (
        user.is_staff
        and (user.has_perm(f"{app}.view_{model}") or user.has_perm(f"{app}.change_{model}"))
    ):
        return ""
    try:
        return reverse(f"admin:{app}_{model}_{view}", args=args)
    except NoReverseMatch:
        return ""


# --- the views ---------------------------------------------------------------------------------


class ScopedIndexView(generic.IndexView):
    """A list of the viewer's creditor's rows; subclasses narrow `base_queryset`."""

    creditor_path = "creditor"

    def base_queryset(self) -> QuerySet:
        return self.model._default_manager.all()

    def get_base_queryset(self) -> QuerySet:
        return scope_queryset(self.base_queryset(), self.request.user, self.creditor_path)


class ScopedInspectView(generic.InspectView):
    """One row, found only inside the viewer's scope, shown as facts and tables."""

    template_name = "casework/inspect.html"
    creditor_path = "creditor"
    # (label, admin app, model, view) of a Django admin page about this row, if any.
    django_admin_link: tuple[str, str, str] | None = None

    def base_queryset(self) -> QuerySet:
        return self.model._default_manager.all()

    def get_object(self, queryset=None):
        scoped = scope_queryset(self.base_queryset(), self.request.user, self.creditor_path)
        return get_object_or_404(scoped, pk=self.pk)

    def get_fields(self):
        return []  # the template shows `facts` instead

    @cached_property
    def header_more_buttons(self):
        return []

    def get_header_buttons(self):
        buttons = []
        for label, url, icon in self.links():
            if url:
                buttons.append(HeaderButton(label, url=url, icon_name=icon))
        return buttons

    def links(self) -> list[tuple[str, str, str]]:
        """(label, url, icon) of pages elsewhere about this row; an empty url is left out."""
        if not self.django_admin_link:
            return []
        app, model = self.django_admin_link[1:]
        url = django_admin_url(self.request.user, app, model, "change", self.object.pk)
        return [(self.django_admin_link[0], url, "cog")]

    def facts(self) -> list[tuple[str, Any]]:
        return []

    def tables(self) -> list[Table]:
        return []

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            facts=self.facts(), tables=self.tables(), zone=timezone.get_current_timezone_name()
        )
        return context


class ReadOnlyViewSet(ReadOnlyViewSetMixin, ModelViewSet):
    """A list and an inspect page per row; no add, edit, delete, copy, history or usage."""

    menu_hook = MENU_HOOK
    add_to_reference_index = False
    list_per_page = 50
