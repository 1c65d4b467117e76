"""Recalling an account from its casework page: the creditor takes the debt back.

`/admin/casework/accounts/<id>/recall/` (URL name `casework_accounts:recall`) asks for a
confirmation and a reason, then calls `accounts.services.account_recall`, the API's recall:
the account becomes recalled, its active plan is cancelled, the timeline entry (with the
reason) and the creditor's webhook events are written in one transaction. It needs
`accounts.recall_account` (creditor users hold it) or `accounts.change_account`; another
creditor's account answers 404, like a missing one.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import FormView
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from accounts import services
from accounts.models import Account, DomainError
from accounts.roles import may_recall
from accounts.tenancy import scope_queryset
from collections_site.casework.display import amount


def recall_url(account: Account) -> str:
    return reverse("casework_accounts:recall", args=[account.pk])


class RecallForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Written on the account's timeline with the recall."),
    )


class AccountRecallView(WagtailAdminTemplateMixin, FormView):
    form_class = RecallForm
    template_name = "casework/recall.html"
    page_title = gettext_lazy("Recall account")
    header_icon = "redirect"

    def dispatch(self, request, *args, **kwargs):
        accounts = Account.objects.select_related("creditor")
        scoped = scope_queryset(accounts, request.user, "creditor")
        self.account = get_object_or_404(scoped, pk=kwargs["pk"])
        if not may_recall(request.user):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_page_subtitle(self):
        return self.account.external_ref

    def get_breadcrumbs_items(self):
        return [
            *self.breadcrumbs_items,
            {"url": reverse("casework_accounts:index"), "label": _("Accounts")},
            {"url": self.inspect_url(), "label": self.account.external_ref},
            {"url": "", "label": _("Recall")},
        ]

    def inspect_url(self) -> str:
        return reverse("casework_accounts:inspect", args=[self.account.pk])

    def form_valid(self, form):
        try:
            services.account_recall(
                account=self.account,
                actor=f"admin:{self.request.user.pk}",
                reason=form.cleaned_data["reason"],
            )
        except DomainError as exc:
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        messages.success(
            self.request,
            _("Account %(ref)s recalled: collection has stopped.")
            % {"ref": self.account.external_ref},
        )
        return redirect(self.inspect_url())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        a = self.account
        context.update(
            account=a,
            is_open=a.is_open,
            balance=amount(a.current_balance, a.currency),
            cancel_url=self.inspect_url(),
        )
        return context
