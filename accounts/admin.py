"""Django admin for the accounts domain (operators at /django-admin/).

Balances, statuses and payments change only through `accounts.services` (admin actions call
them), so the state machine and the timeline are never bypassed from here.
"""

from __future__ import annotations

from decimal import Decimal
from operator import attrgetter
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accounts import (
    admin_tags,  # noqa: F401 (registers Wagtail's tags with the merge page behind a permission)
    money,
    placement,
    regions,
    services,
)
from accounts.admin_display import MoneyAdmin, PlainHelpTexts, amount_for_input
from accounts.admin_filters import (
    AccountRegionFilter,
    InstalmentDueWeekFilter,
    PlacedMonthFilter,
    RegionFilter,
)
from accounts.models import (
    Account,
    AccountStatus,
    Activity,
    ActivityKind,
    Creditor,
    CreditorUser,
    Debtor,
    DebtorFlag,
    DomainError,
    Installment,
    Payment,
    PaymentPlan,
)
from accounts.roles import may_recall
from accounts.tenancy import CreditorScopedAdmin, is_agency_staff, scope_queryset


class DebtorAccessLogged:
    """Mixin for a `ModelAdmin` whose change page shows a debtor's personal data: each view of
    it writes one access row (`accounts.services.debtor_data_access_record`). `debtor_path`
    leads from the object to its debtor (`"debtor"`, `"account.debtor"`; empty: the object
    is the debtor)."""

    debtor_path: str = "debtor"

    def debtor_of(self, obj: Any) -> Debtor | None:
        return attrgetter(self.debtor_path)(obj) if self.debtor_path else obj

    def debtor_access_record(self, request: HttpRequest, obj: Any) -> None:
        debtor = self.debtor_of(obj)
        if debtor is not None:
            services.debtor_data_access_record(user=request.user, debtor=debtor, page=request.path)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(  # type: ignore[misc]
            request, object_id, form_url, extra_context
        )
        if request.method == "GET" and response.status_code == 200:
            obj = (getattr(response, "context_data", None) or {}).get("original")
            if obj is not None:
                self.debtor_access_record(request, obj)
        return response


class ReadOnlyInline(PlainHelpTexts, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class CreditorUserForm(forms.ModelForm):
    def clean_user(self):
        user = self.cleaned_data["user"]
        if user is not None and user.is_superuser:
            # Django gives a superuser every permission before any check: bound or not, they
            # would see and do everything (docs/creditor-users.md).
            raise forms.ValidationError(
                "A superuser sees every creditor: bind an ordinary staff user."
            )
        return user


class CreditorUserInline(admin.TabularInline):
    """The users bound to this creditor: its API users and its staff in the admins (creditor
    users are also in the "Creditor users" group, docs/creditor-users.md)."""

    model = CreditorUser
    form = CreditorUserForm
    extra = 0
    autocomplete_fields = ["user"]
    verbose_name = "user of this creditor"
    verbose_name_plural = "users of this creditor (API users and creditor users)"


def _trim_percent(value: Decimal | None) -> Decimal | None:
    """A percentage without trailing zeros: 15, 12.5 (not 15.00, 12.50)."""
    if value is None:
        return None
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


class CreditorForm(forms.ModelForm):
    """The creditor's page: its minimum instalment is an amount in its default currency."""

    class Meta:
        model = Creditor
        fields = [
            "name", "slug", "display_name", "default_currency", "locale", "min_instalment",
            "max_plan_months", "settlement_allowed", "max_settlement_discount_pct",
            "max_pause_days",
        ]  # fmt: skip

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        currency = self.instance.default_currency
        if "min_instalment" in self.fields and money.currency_is_known(currency):
            step = Decimal(1).scaleb(-money.minor_units(currency))
            self.fields["min_instalment"].widget.attrs["step"] = str(step)
            if not self.is_bound:
                self.initial["min_instalment"] = amount_for_input(
                    self.initial.get("min_instalment"), currency
                )
        if "max_settlement_discount_pct" in self.fields and not self.is_bound:
            self.initial["max_settlement_discount_pct"] = _trim_percent(
                self.initial.get("max_settlement_discount_pct")
            )

    def clean(self):
        cleaned = super().clean()
        currency, amount = cleaned.get("default_currency"), cleaned.get("min_instalment")
        if amount is not None and money.currency_is_known(currency):
            try:
                money.parse_amount(amount, currency)
            except money.MoneyError as exc:
                self.add_error("min_instalment", str(exc))
        return cleaned


@admin.register(Creditor)
class CreditorAdmin(CreditorScopedAdmin, admin.ModelAdmin):
    creditor_path = "pk"
    form = CreditorForm
    list_display = ["name", "slug", "display_name", "default_currency", "locale"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [CreditorUserInline]

    def has_add_permission(self, request) -> bool:
        # A new creditor belongs to no creditor's staff: only agency staff add creditors.
        return is_agency_staff(request.user) and super().has_add_permission(request)

    fieldsets = [
        (None, {"fields": ["name", "slug", "display_name", "default_currency", "locale"]}),
        (
            "Portal policy",
            {
                "fields": [
                    "min_instalment",
                    "max_plan_months",
                    "settlement_allowed",
                    "max_settlement_discount_pct",
                    "max_pause_days",
                ]
            },
        ),
    ]


class DebtorForm(forms.ModelForm):
    flags = forms.MultipleChoiceField(
        choices=DebtorFlag.choices, required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Debtor
        fields = [
            "creditor", "external_ref", "first_name", "last_name", "email", "phone",
            "address_line1", "address_line2", "city", "postal_code", "region", "timezone",
            "language", "date_of_birth", "flags", "preferred_channel", "preferred_hours_start",
            "preferred_hours_end",
        ]  # fmt: skip

    def clean_region(self) -> str:
        code = regions.normalize(self.cleaned_data["region"])
        if not regions.is_valid(code):
            raise forms.ValidationError("Unknown region: use ISO 3166-1 (FR) or 3166-2 (US-MA).")
        return code

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # As in a placement: left blank, the region's usual zone. (A user who may only look
        # gets the fields read-only, outside the form.)
        if "timezone" in self.fields:
            self.fields["timezone"].required = False
            self.fields["timezone"].help_text += " Blank: the region's usual zone."

    def clean_timezone(self) -> str:
        name = (self.cleaned_data["timezone"] or "").strip()
        if name and not regions.timezone_is_valid(name):
            raise forms.ValidationError("Unknown IANA time zone, e.g. Europe/Paris.")
        return name

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("timezone") and cleaned.get("region"):
            cleaned["timezone"] = regions.timezone_for(cleaned["region"])
        phone = (cleaned.get("phone") or "").strip()
        if phone:
            region = cleaned.get("region")
            e164 = placement.phone_to_e164(phone, regions.country_of(region) if region else None)
            if e164 is None:
                self.add_error("phone", placement.PHONE_ERROR)
            else:
                cleaned["phone"] = e164
        return cleaned

    def clean_flags(self) -> list[str]:
        return sorted(set(self.cleaned_data["flags"]))


class ActivityInline(ReadOnlyInline):
    model = Activity
    fields = ["occurred_at", "kind", "summary", "account", "actor"]
    readonly_fields = fields
    ordering = ["-occurred_at", "-id"]
    show_change_link = False
    verbose_name_plural = "Timeline"


class AccountInline(MoneyAdmin, ReadOnlyInline):
    model = Account
    money_fields = {"current_balance": "currency"}
    fields = ["external_ref", "status", "currency", "current_balance", "due_date"]
    readonly_fields = fields


@admin.register(Debtor)
class DebtorAdmin(DebtorAccessLogged, CreditorScopedAdmin, admin.ModelAdmin):
    debtor_path = ""  # the page is the debtor's
    form = DebtorForm
    list_display = ["external_ref", "full_name", "creditor", "region", "language", "timezone"]
    list_filter = ["creditor", "language", "region"]
    search_fields = ["external_ref", "last_name", "email"]
    list_select_related = ["creditor"]
    inlines = [AccountInline, ActivityInline]

    def save_model(self, request, obj, form, change) -> None:
        # The change and its timeline entry are one transaction.
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if not change:
                summary = "An operator added the debtor."
                data = {"fields": form.changed_data, "added": True}
            elif form.changed_data:
                summary = "An operator changed: " + ", ".join(form.changed_data) + "."
                data = {"fields": form.changed_data}
            else:
                return
            services.activity_record(
                debtor=obj,
                kind=ActivityKind.ADMIN_CHANGE,
                summary=summary,
                data=data,
                actor=f"admin:{request.user.pk}",
            )


class PaymentInline(MoneyAdmin, ReadOnlyInline):
    model = Payment
    money_fields = {"amount": "currency"}
    fields = ["received_at", "amount", "currency", "method", "status", "provider_reference"]
    readonly_fields = fields


class RecallForm(forms.Form):
    """The reason for a recall, written on the account's timeline."""

    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Written on each account's timeline with the recall.",
    )


class PlacementUploadForm(forms.Form):
    creditor = forms.ModelChoiceField(queryset=Creditor.objects.all())
    file = forms.FileField(
        help_text="UTF-8 CSV with a header row naming any of the columns listed below "
        "(docs/api.md, section CSV, describes them)."
    )

    MAX_BYTES = 20 * 1024 * 1024

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_BYTES:
            raise forms.ValidationError("The file is larger than 20 MB; split it.")
        try:
            self.rows = placement.rows_from_csv(upload.read())
        except placement.CsvError as exc:
            raise forms.ValidationError(str(exc)) from exc
        if not self.rows:
            raise forms.ValidationError("The file has a header but no rows.")
        return upload


def _transition_action(status: str, label: str):
    @admin.action(permissions=["change"])
    def action(modeladmin, request, queryset):
        done = 0
        for account in queryset:
            try:
                services.account_transition(
                    account=account, status=status, actor=f"admin:{request.user.pk}"
                )
                done += 1
            except DomainError as exc:
                modeladmin.message_user(request, f"{account}: {exc}", level=messages.WARNING)
        if done:
            modeladmin.message_user(request, f"{done} account(s) now {label.lower()}.")

    action.__name__ = f"mark_{status}"
    action.short_description = f"Mark selected accounts {label.lower()}"
    return action


@admin.register(Account)
class AccountAdmin(CreditorScopedAdmin, MoneyAdmin, admin.ModelAdmin):
    money_fields = {"current_balance": "currency", "original_amount": "currency"}
    list_display = [
        "external_ref", "creditor", "status", "currency", "current_balance", "due_date",
        "placed_at",
    ]  # fmt: skip
    list_filter = ["status", "creditor", "currency", AccountRegionFilter]
    search_fields = ["external_ref", "debtor__external_ref", "debtor__last_name"]
    list_select_related = ["creditor"]
    raw_id_fields = ["debtor"]
    readonly_fields = [
        "status", "status_changed_at", "current_balance", "original_amount", "currency",
        "placed_at", "updated_at", "creditor", "external_ref",
    ]  # fmt: skip
    inlines = [PaymentInline]
    actions = [
        "recall",
        _transition_action(AccountStatus.ACTIVE, "Active"),
        _transition_action(AccountStatus.CLOSED, "Closed"),
    ]
    change_list_template = "admin/accounts/account/change_list.html"

    def has_add_permission(self, request) -> bool:
        return False  # accounts are placed (API, CSV upload, import command)

    def has_recall_permission(self, request) -> bool:
        return may_recall(request.user)

    @admin.action(
        description="Recall selected accounts (the creditor takes them back)",
        permissions=["recall"],
    )
    def recall(self, request: HttpRequest, queryset) -> HttpResponse | None:
        """The API's recall (`services.account_recall`), after a confirmation page that asks
        for the reason written on each account's timeline."""
        form = RecallForm(request.POST if "confirm" in request.POST else None)
        if form.is_bound and form.is_valid():
            done = 0
            for account in queryset:
                try:
                    services.account_recall(
                        account=account,
                        actor=f"admin:{request.user.pk}",
                        reason=form.cleaned_data["reason"],
                    )
                    done += 1
                except DomainError as exc:
                    self.message_user(request, f"{account}: {exc}", level=messages.WARNING)
            if done:
                self.message_user(request, f"{done} account(s) recalled.")
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Recall accounts",
            "accounts": queryset.select_related("creditor"),
            "form": form,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "changelist_url": reverse("admin:accounts_account_changelist"),
        }
        return TemplateResponse(request, "admin/accounts/account/recall_confirm.html", context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "may_upload": self.has_change_permission(request)}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        return [
            path(
                "upload-csv/",
                self.admin_site.admin_view(self.upload_csv),
                name="accounts_account_upload_csv",
            ),
            *super().get_urls(),
        ]

    def upload_csv(self, request: HttpRequest) -> HttpResponse:
        """Place accounts from a CSV file through the same service as the API (a change to
        accounts: their change permission, which creditor users never hold)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        result = None
        form = PlacementUploadForm(request.POST or None, request.FILES or None)
        # Creditor staff place for their own creditor only.
        form.fields["creditor"].queryset = scope_queryset(
            Creditor.objects.all(), request.user, "pk"
        )
        if request.method == "POST" and form.is_valid():
            result = services.placement_upsert(
                creditor=form.cleaned_data["creditor"],
                rows=form.rows,
                actor=f"admin:{request.user.pk}",
            )
            summary = result.as_dict()["summary"]
            self.message_user(
                request,
                "Placed: {created} created, {updated} updated, {unchanged} unchanged, "
                "{rejected} rejected.".format(**summary),
                level=messages.WARNING if result.rejected else messages.SUCCESS,
            )
        rejected = result.rejected if result else []
        rejected_errors = [
            sentence for row in rejected for sentence in placement.rejected_row_errors(row)
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Upload accounts (CSV)",
            "form": form,
            "result": result,
            "rejected_errors": rejected_errors,
            "columns": placement.CSV_COLUMNS,
            "changelist_url": reverse("admin:accounts_account_changelist"),
        }
        return render(request, "admin/accounts/account/upload_csv.html", context)


class InstallmentInline(MoneyAdmin, ReadOnlyInline):
    model = Installment
    money_fields = {"amount": "plan.account.currency", "amount_paid": "plan.account.currency"}
    fields = ["sequence", "due_date", "amount", "amount_paid", "status", "payment", "paid_at"]
    readonly_fields = fields
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("plan__account", "payment")


@admin.register(PaymentPlan)
class PaymentPlanAdmin(CreditorScopedAdmin, MoneyAdmin, admin.ModelAdmin):
    creditor_path = "account__creditor"
    money_fields = {"total_amount": "account.currency"}
    list_display = ["id", "account", "frequency", "instalment_count", "total_amount", "status"]
    list_filter = ["status", "frequency", InstalmentDueWeekFilter]
    list_select_related = ["account"]
    readonly_fields = [f.name for f in PaymentPlan._meta.fields]
    inlines = [InstallmentInline]

    def has_add_permission(self, request) -> bool:
        return False


class ReadOnlyAdmin(PlainHelpTexts, admin.ModelAdmin):
    """Records written only by services (payments, timelines, audit trails): view, never edit."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Payment)
class PaymentAdmin(CreditorScopedAdmin, MoneyAdmin, ReadOnlyAdmin):
    money_fields = {"amount": "currency"}
    list_display = ["received_at", "account", "amount", "currency", "method", "status"]
    list_filter = ["status", "method", "creditor", RegionFilter, PlacedMonthFilter]
    list_select_related = ["account"]
    search_fields = ["account__external_ref", "provider_reference", "idempotency_key"]


@admin.register(Activity)
class ActivityAdmin(CreditorScopedAdmin, ReadOnlyAdmin):
    list_display = ["occurred_at", "kind", "debtor", "account", "actor", "summary"]
    list_filter = ["kind", "creditor"]
    search_fields = ["debtor__external_ref", "account__external_ref"]
    list_select_related = ["debtor", "account"]
