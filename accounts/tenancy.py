"""Which creditors' data a back-office user may see: one rule for every admin page.

Two kinds of staff work in the admins:
- **agency staff** run the platform for every creditor. They hold the permission
  `accounts.view_all_creditors` (a superuser holds every permission) and see everything;
- **creditor staff** are bound to one creditor by a `CreditorUser` row, as API users are, and
  see that creditor's debtors, accounts, payments, messages and decisions only. A staff user
  who is neither sees no creditor's data at all.

`scope_queryset` filters any queryset by the lookup path from its model to `Creditor`;
`CreditorScopedAdmin` applies it to a Django `ModelAdmin` (lists, change pages, actions,
history, autocomplete, the choices of its foreign keys and the creditor list filter), and an
object outside the scope answers 404, exactly like a missing one. Wagtail views call
`scope_queryset` themselves.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from django.http import Http404

from accounts import selectors
from accounts.models import Account, Creditor, Debtor

AGENCY_PERMISSION = "accounts.view_all_creditors"

# How each tenant model that admin forms point at reaches its creditor.
_PATHS: dict[type[Model], str] = {Creditor: "pk", Debtor: "creditor", Account: "creditor"}


class _Everything:
    def __repr__(self) -> str:
        return "ALL_CREDITORS"


ALL_CREDITORS = _Everything()


def creditor_scope(user: Any) -> Creditor | _Everything | None:
    """`ALL_CREDITORS` for agency staff, the bound creditor for creditor staff, else None."""
    if not getattr(user, "is_active", False):
        return None
    if user.has_perm(AGENCY_PERMISSION):
        return ALL_CREDITORS
    return selectors.creditor_for_user(user)


def is_agency_staff(user: Any) -> bool:
    return creditor_scope(user) is ALL_CREDITORS


def scope_queryset(queryset: QuerySet, user: Any, path: str) -> QuerySet:
    """`queryset` narrowed to what `user` may see; `path` leads from its model to Creditor
    (`"creditor"`, `"account__creditor"`, `"pk"` for creditors themselves)."""
    scope = creditor_scope(user)
    if scope is ALL_CREDITORS:
        return queryset
    if scope is None:
        return queryset.none()
    return queryset.filter(**{path: scope.pk})


class CreditorScopedAdmin:
    """Mixin for a Django `ModelAdmin` of tenant data; list it before `admin.ModelAdmin`.

    `creditor_path` is the lookup from the admin's model to its creditor.
    """

    creditor_path: str = "creditor"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)  # type: ignore[misc]
        return scope_queryset(queryset, request.user, self.creditor_path)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        if obj is None:
            # Django's admin would redirect with "… doesn't exist": another creditor's object
            # is simply not found.
            raise Http404
        return obj

    def get_list_filter(self, request):
        filters = super().get_list_filter(request)  # type: ignore[misc]
        if is_agency_staff(request.user):
            return filters
        # A creditor filter would list every creditor's name; one creditor needs none.
        return [f for f in filters if not _names_creditor(f)]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if related in _PATHS and "queryset" not in kwargs:
            kwargs["queryset"] = scope_queryset(
                related._default_manager.all(), request.user, _PATHS[related]
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


class AgencyOnlyAdmin(CreditorScopedAdmin):
    """A scoped admin only agency staff may open, whatever other staff's model permissions
    (e.g. the staff access log: who looked at which debtor). Anyone else gets 403."""

    def has_module_permission(self, request) -> bool:
        return is_agency_staff(request.user) and super().has_module_permission(request)  # type: ignore[misc]

    def has_view_permission(self, request, obj=None) -> bool:
        return is_agency_staff(request.user) and super().has_view_permission(request, obj)  # type: ignore[misc]


def _names_creditor(item: Any) -> bool:
    name = item[0] if isinstance(item, list | tuple) else item
    return isinstance(name, str) and (name == "creditor" or name.endswith("__creditor"))
