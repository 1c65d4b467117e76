"""API keys in the Django admin: issue one (shown once, on the page after), list, revoke.

Scoped like every other admin page: creditor staff see, issue and revoke their own creditor's
keys only.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from accounts.api_keys import services
from accounts.api_keys.models import ApiKey
from accounts.models import Creditor
from accounts.tenancy import CreditorScopedAdmin, scope_queryset


class ApiKeyChangeForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "expires_at"]

    def clean_name(self) -> str:
        try:
            return services._clean_name(self.cleaned_data.get("name", ""))
        except services.ApiKeyError as refused:
            raise forms.ValidationError(str(refused)) from None


class ApiKeyAddForm(ApiKeyChangeForm):
    creditor = forms.ModelChoiceField(
        queryset=Creditor.objects.none(),
        help_text="The key acts as this creditor's API user (made, as “<slug>-api”, when the "
        "creditor has none).",
    )

    def clean_expires_at(self):
        expires_at = self.cleaned_data.get("expires_at")
        try:
            services.check_expiry(expires_at)
        except services.ApiKeyError as refused:
            raise forms.ValidationError(str(refused)) from None
        return expires_at

    def clean(self):
        cleaned = super().clean()
        creditor = cleaned.get("creditor")
        if creditor is not None and not self.errors:
            try:
                cleaned["api_user"] = services.api_user_for(creditor=creditor)
            except services.ApiKeyError as refused:
                self.add_error("creditor", str(refused))
        return cleaned


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(CreditorScopedAdmin, admin.ModelAdmin):
    creditor_path = "user__creditor_link__creditor"
    form = ApiKeyChangeForm
    list_display = [
        "name", "shown_prefix", "creditor", "user", "created_at", "last_used_at", "expires_at",
        "revoked_at", "status",
    ]  # fmt: skip
    list_filter = [StatusFilter, "user__creditor_link__creditor"]
    list_select_related = ["user__creditor_link__creditor"]
    search_fields = ["name", "prefix", "user__username"]
    actions = ["revoke"]
    add_fieldsets = [(None, {"fields": ["creditor", "name", "expires_at"]})]
    fieldsets = [
        (None, {"fields": ["name", "shown_prefix", "creditor", "user", "status"]}),
        ("Life", {"fields": ["created_at", "created_by", "last_used_at", "expires_at"]}),
        ("Revocation", {"fields": ["revoked_at", "revoked_by"]}),
    ]
    readonly_fields = [
        "shown_prefix", "creditor", "user", "status", "created_at", "created_by",
        "last_used_at", "revoked_at", "revoked_by",
    ]  # fmt: skip

    @admin.display(description="prefix", ordering="prefix")
    def shown_prefix(self, obj: ApiKey) -> str:
        return f"{obj.prefix}…"

    @admin.display(description="creditor", ordering="user__creditor_link__creditor__name")
    def creditor(self, obj: ApiKey):
        link = getattr(obj.user, "creditor_link", None)
        return link.creditor if link is not None else "—"

    @admin.display(description="status")
    def status(self, obj: ApiKey) -> str:
        return obj.status()

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else super().get_readonly_fields(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)
        form = super().get_form(request, obj, change=change, form=ApiKeyAddForm, **kwargs)
        creditors = scope_queryset(Creditor.objects.order_by("name"), request.user, "pk")

        class ScopedAddForm(form):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, **kwargs)
                self.fields["creditor"].queryset = creditors
                if not self.is_bound and len(creditors) == 1:
                    self.initial["creditor"] = creditors[0].pk

        return ScopedAddForm

    def save_model(self, request, obj: ApiKey, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        _key, plaintext = services.api_key_issue(
            user=form.cleaned_data["api_user"],
            name=obj.name,
            expires_at=obj.expires_at,
            actor=f"admin:{request.user.pk}",
            key=obj,
        )
        request._api_key_plaintext = plaintext

    def response_add(self, request, obj: ApiKey, post_url_continue=None):
        plaintext = getattr(request, "_api_key_plaintext", None)
        if plaintext is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "API key issued",
            "key": obj,
            "creditor": self.creditor(obj),
            "plaintext": plaintext,
            "list_url": reverse("admin:api_keys_apikey_changelist"),
        }
        # Shown on this answer only: no redirect to a page that would have to keep it, and
        # never cached.
        response = TemplateResponse(request, "admin/api_keys/apikey/issued.html", context)
        add_never_cache_headers(response)
        return response

    @admin.action(description="Revoke the selected API keys", permissions=["change"])
    def revoke(self, request, queryset) -> None:
        revoked = sum(
            services.api_key_revoke(key=key, actor=f"admin:{request.user.pk}") for key in queryset
        )
        self.message_user(
            request,
            f"Revoked {revoked} API key(s); they are refused from now on."
            if revoked
            else "Those keys were revoked already.",
            messages.SUCCESS if revoked else messages.INFO,
        )
