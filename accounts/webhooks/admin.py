"""Webhooks in the Django admin: endpoints, deliveries with their read-only attempt log and
a "Send again" action, events. Scoped like every admin page: creditor staff see their own
creditor's only."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from accounts.models import DomainError
from accounts.tenancy import CreditorScopedAdmin
from accounts.webhooks import services
from accounts.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)


class EndpointForm(forms.ModelForm):
    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "event_types", "enabled"]

    def clean_url(self) -> str:
        try:
            return services.url_check(self.cleaned_data["url"])
        except services.EndpointRefused as refused:
            raise forms.ValidationError(str(refused)) from None

    def clean_event_types(self) -> list[str]:
        value = self.cleaned_data.get("event_types") or []
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise forms.ValidationError('A list of event types, e.g. ["account.paid"].')
        try:
            return services.event_types_clean(value)
        except services.EndpointRefused as refused:
            raise forms.ValidationError(str(refused)) from None


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(CreditorScopedAdmin, admin.ModelAdmin):
    form = EndpointForm
    list_display = ["url", "creditor", "enabled", "disabled_at", "created_at"]
    list_filter = ["enabled", "creditor"]
    list_select_related = ["creditor"]
    search_fields = ["url", "description"]
    readonly_fields = [
        "creditor", "disabled_at", "disabled_reason", "previous_secret_expires_at",
        "created_at", "updated_at",
    ]  # fmt: skip

    def has_add_permission(self, request) -> bool:
        # Made through the API (`POST /api/v1/webhook-endpoints/`), which shows the secret.
        return False

    def save_model(self, request, obj: WebhookEndpoint, form, change: bool) -> None:
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        services.endpoint_update(obj, **changes)


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = [
        "number", "manual", "started_at", "succeeded", "status_code", "latency_ms", "error",
        "response_body",
    ]  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(CreditorScopedAdmin, admin.ModelAdmin):
    creditor_path = "endpoint__creditor"
    list_display = [
        "event", "event_type", "endpoint", "status", "attempts", "last_status_code",
        "next_attempt_at", "created_at",
    ]  # fmt: skip
    list_filter = ["status", "endpoint__creditor"]
    list_select_related = ["event", "endpoint"]
    search_fields = ["event__id", "endpoint__url"]
    inlines = [AttemptInline]
    actions = ["resend"]
    readonly_fields = [
        "endpoint", "event", "status", "attempts", "manual", "next_attempt_at",
        "last_attempt_at", "last_status_code", "created_at",
    ]  # fmt: skip
    fields = readonly_fields

    @admin.display(description="type", ordering="event__type")
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.type

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Send the selected deliveries again", permissions=["view"])
    def resend(self, request, queryset) -> None:
        sent, refused = 0, 0
        for delivery in queryset.select_related("endpoint"):
            try:
                services.delivery_resend(delivery)
                sent += 1
            except DomainError:
                refused += 1
        self.message_user(request, f"{sent} delivery(ies) will be sent again now.")
        if refused:
            self.message_user(
                request,
                f"{refused} not re-sent: their endpoint is disabled.",
                messages.WARNING,
            )


@admin.register(WebhookEvent)
class WebhookEventAdmin(CreditorScopedAdmin, admin.ModelAdmin):
    list_display = ["id", "type", "creditor", "created_at"]
    list_filter = ["type", "creditor"]
    list_select_related = ["creditor"]
    search_fields = ["id"]
    readonly_fields = ["id", "creditor", "type", "created_at", "api_version", "data"]
    fields = readonly_fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
