"""The privacy pages of the Django admin (docs/privacy.md).

- The debtor's page (whatever admin class the apps registered for `Debtor`, subclassed here
  as the recommender does) gains "Export personal data" and "Erase personal data" (buttons
  and list actions), each behind its own permission and inside the user's creditor scope; an
  erased debtor's page is read-only; and every view of the page writes one row of the staff
  access log.
- Privacy actions: the audit of exports and erasures, read-only, scoped by creditor.
- Staff access to debtor data: the access log, read-only, agency staff only.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse

from accounts.admin import ReadOnlyAdmin
from accounts.models import OPEN_STATUSES, Debtor, DebtorDataAccess
from accounts.tenancy import AgencyOnlyAdmin, CreditorScopedAdmin
from collections_site.privacy import services
from collections_site.privacy.models import PrivacyAction


def _actor(request: HttpRequest) -> str:
    return f"admin:{request.user.pk}"


@admin.display(description="debtor")
def _debtor_ref(obj) -> str:
    # The reference and id, not the debtor's name: these pages say who did what, and must
    # not become another way to read personal data.
    return f"{obj.debtor.external_ref} (#{obj.debtor_id})"


@admin.register(PrivacyAction)
class PrivacyActionAdmin(CreditorScopedAdmin, ReadOnlyAdmin):
    list_display = ["at", "kind", _debtor_ref, "creditor", "actor", "forced"]
    list_filter = ["kind", "forced", "creditor"]
    search_fields = ["debtor__external_ref", "actor"]
    list_select_related = ["debtor", "creditor"]
    fields = ["at", "kind", "creditor", _debtor_ref, "actor", "user", "forced", "reason",
              "details"]  # fmt: skip
    readonly_fields = fields


@admin.register(DebtorDataAccess)
class DebtorDataAccessAdmin(AgencyOnlyAdmin, ReadOnlyAdmin):
    list_display = ["at", "user", _debtor_ref, "creditor", "page"]
    list_filter = ["creditor"]
    search_fields = ["debtor__external_ref", "page", "user__username"]
    list_select_related = ["debtor", "creditor", "user"]
    date_hierarchy = "at"
    fields = ["at", "user", "creditor", _debtor_ref, "page"]
    readonly_fields = fields


class EraseForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=services.REASON_MAX,
        help_text='Why (e.g. "the debtor\'s request of 3 March, by letter"). Kept in the '
        "audit: write why, not who.",
    )
    force = forms.BooleanField(
        required=False,
        label="Force: erase even though accounts are open (they are closed first)",
    )

    def __init__(self, *args, may_force: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not may_force:
            del self.fields["force"]


class PrivacyDebtorAdminMixin:
    """The privacy pages and actions on the Debtor admin: export and erase, each behind its
    permission, and no edits to an erased debtor. Mixed into whatever admin class the
    accounts app registered (`_extend_debtor_admin`), which knows nothing of them."""

    privacy_extended = True
    change_form_template = "admin/privacy/debtor_change_form.html"
    # The registered admin's own change form, which the privacy template extends.
    privacy_base_template = "admin/change_form.html"

    # --- permissions (admin actions name them in `permissions=`) ----------------------

    def has_privacy_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("privacy.export_debtor")

    def has_privacy_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("privacy.erase_debtor")

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # An erased debtor is never filled in again, from here either.
        if obj is not None and obj.erased_at is not None:
            return False
        return super().has_change_permission(request, obj)

    # --- the change page -----------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {
            **(extra_context or {}),
            "privacy_base_template": self.privacy_base_template,
            "privacy_can_export": self.has_privacy_export_permission(request),
            "privacy_can_erase": self.has_privacy_erase_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/privacy-export/",
                view(self.privacy_export_view),
                name="accounts_debtor_privacy_export",
            ),
            path(
                "<path:object_id>/privacy-erase/",
                view(self.privacy_erase_view),
                name="accounts_debtor_privacy_erase",
            ),
            *super().get_urls(),
        ]

    def _debtor(self, request: HttpRequest, object_id: str) -> Debtor:
        # The user's creditor scope: another creditor's debtor answers 404.
        return self.get_object(request, unquote(object_id))

    def privacy_export_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_privacy_export_permission(request):
            raise PermissionDenied
        debtor = self._debtor(request, object_id)
        if request.method == "POST":
            return _download(services.debtor_export(
                debtor=debtor, actor=_actor(request), user=request.user
            ))  # fmt: skip
        return self._page(request, debtor, "export", None)

    def privacy_erase_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_privacy_erase_permission(request):
            raise PermissionDenied
        debtor = self._debtor(request, object_id)
        may_force = services.may_force(request.user)
        form = EraseForm(request.POST or None, may_force=may_force)
        if request.method == "POST" and form.is_valid():
            try:
                result = services.debtor_erase(
                    debtor=debtor,
                    actor=_actor(request),
                    reason=form.cleaned_data["reason"],
                    force=form.cleaned_data.get("force", False),
                    allow_force=may_force,
                    user=request.user,
                )
            except services.ErasureRefused as exc:
                form.add_error(None, str(exc))
            else:
                if result.already:
                    note = f"Already erased on {result.erased_at:%Y-%m-%d %H:%M} UTC."
                    self.message_user(request, note + " Nothing changed.", messages.WARNING)
                else:
                    self.message_user(
                        request,
                        f"Debtor #{debtor.pk}: personal data erased (privacy action "
                        f"{result.action_id}).",
                        messages.SUCCESS,
                    )
                return HttpResponseRedirect(
                    reverse("admin:accounts_debtor_change", args=[debtor.pk])
                )
        return self._page(request, debtor, "erase", form)

    def _page(self, request, debtor: Debtor, what: str, form) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": debtor,
            "what": what,
            "form": form,
            "open_accounts": debtor.accounts.filter(status__in=list(OPEN_STATUSES)).count(),
            "title": "Export personal data" if what == "export" else "Erase personal data",
        }
        return render(request, "admin/privacy/confirm.html", context)

    # --- list actions --------------------------------------------------------------

    @admin.action(
        description="Export personal data of the selected debtor (.zip)",
        permissions=["privacy_export"],
    )
    def privacy_export(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one debtor.", messages.WARNING)
            return None
        return _download(services.debtor_export(
            debtor=queryset.select_related("creditor").get(), actor=_actor(request),
            user=request.user,
        ))  # fmt: skip

    @admin.action(
        description="Erase personal data of the selected debtor…",
        permissions=["privacy_erase"],
    )
    def privacy_erase(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Erase one debtor at a time.", messages.WARNING)
            return None
        return HttpResponseRedirect(
            reverse("admin:accounts_debtor_privacy_erase", args=[queryset.get().pk])
        )


def _extend_debtor_admin() -> None:
    """Register the Debtor admin again with `PrivacyDebtorAdminMixin` in front of it."""
    base = type(admin.site.get_model_admin(Debtor))
    if getattr(base, "privacy_extended", False):
        return
    extended = type(
        base.__name__,
        (PrivacyDebtorAdminMixin, base),
        {
            "__module__": base.__module__,
            "__qualname__": base.__qualname__,
            "actions": [*(base.actions or []), "privacy_export", "privacy_erase"],
            "privacy_base_template": base.change_form_template or "admin/change_form.html",
            # The add page has no debtor to export or erase: it keeps the base's template
            # (the privacy one reads context that only `change_view` gives).
            "add_form_template": (
                base.add_form_template or base.change_form_template or "admin/change_form.html"
            ),
        },
    )
    admin.site.unregister(Debtor)
    admin.site.register(Debtor, extended)


def _download(export: services.Export) -> HttpResponse:
    response = HttpResponse(export.content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "no-store"
    return response


_extend_debtor_admin()
