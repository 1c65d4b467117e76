"""Webhooks in the Django admin: endpoints (add one, change it, disable or enable it, roll its
signing secret: a new secret is shown once, on the page that answers, as the API does),
deliveries with their read-only attempt log and a "Send again" action, events. Scoped like
every admin page: creditor staff and creditor users see and manage their own creditor's
only; every write goes through `accounts.webhooks.services`, as the API's do."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers

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


class EndpointAddForm(EndpointForm):
    """A new endpoint: its creditor (among those the user may see) and its settings."""

    class Meta(EndpointForm.Meta):
        fields = ["creditor", "url", "description", "event_types", "enabled"]

    def clean(self):
        cleaned = super().clean()
        creditor = cleaned.get("creditor")
        count = WebhookEndpoint.objects.filter(creditor=creditor).count() if creditor else 0
        if count >= services.MAX_ENDPOINTS:
            self.add_error(
                "creditor",
                f"A creditor may have at most {services.MAX_ENDPOINTS} webhook endpoints.",
            )
        return cleaned


def _secret_page(request, admin_site, endpoint: WebhookEndpoint, *, rolled: bool):
    """The endpoint's signing secret, on this answer only: no redirect to a page that would
    have to keep it, and never cached."""
    context = {
        **admin_site.each_context(request),
        "opts": WebhookEndpoint._meta,
        "title": "Signing secret rolled" if rolled else "Webhook endpoint added",
        "endpoint": endpoint,
        "rolled": rolled,
        "list_url": reverse("admin:webhooks_webhookendpoint_changelist"),
        "change_url": reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]),
    }
    response = TemplateResponse(request, "admin/webhooks/webhookendpoint/secret.html", context)
    add_never_cache_headers(response)
    return response


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
    actions = ["disable", "enable"]
    change_form_template = "admin/webhooks/webhookendpoint/change_form.html"

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = EndpointAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return EndpointAddForm.Meta.fields
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else super().get_readonly_fields(request, obj)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        creditors = self.formfield_for_foreignkey(
            WebhookEndpoint._meta.get_field("creditor"), request
        ).queryset
        if len(creditors) == 1:
            initial.setdefault("creditor", creditors[0].pk)
        return initial

    def save_model(self, request, obj: WebhookEndpoint, form, change: bool) -> None:
        if not change:
            made = services.endpoint_create(
                creditor=form.cleaned_data["creditor"],
                url=form.cleaned_data["url"],
                event_types=form.cleaned_data["event_types"],
                description=form.cleaned_data["description"],
                enabled=form.cleaned_data["enabled"],
            )
            obj.pk, obj.secret, obj.created_at = made.pk, made.secret, made.created_at
            return
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        services.endpoint_update(obj, **changes)

    def response_add(self, request, obj: WebhookEndpoint, post_url_continue=None):
        return _secret_page(request, self.admin_site, obj, rolled=False)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/roll-secret/",
                self.admin_site.admin_view(self.roll_secret_view),
                name="webhooks_webhookendpoint_roll_secret",
            ),
            *super().get_urls(),
        ]

    def roll_secret_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """A confirmation page; its POST rolls the secret (`services.secret_roll`: the old one
        keeps signing for 24 hours) and shows the new one once."""
        endpoint = self.get_object(request, object_id)  # another creditor's: 404
        if not self.has_change_permission(request, endpoint):
            raise PermissionDenied
        if request.method == "POST":
            return _secret_page(
                request, self.admin_site, services.secret_roll(endpoint), rolled=True
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Roll the signing secret",
            "endpoint": endpoint,
            "change_url": reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]),
        }
        return TemplateResponse(request, "admin/webhooks/webhookendpoint/roll_secret.html", context)

    def _set_enabled(self, request, queryset, enabled: bool) -> None:
        changed = 0
        for endpoint in queryset.filter(enabled=not enabled):
            services.endpoint_update(endpoint, enabled=enabled)
            changed += 1
        state = "enabled" if enabled else "disabled"
        self.message_user(request, f"{changed} endpoint(s) {state}.")

    @admin.action(
        description="Disable the selected endpoints (pending deliveries end as failed)",
        permissions=["change"],
    )
    def disable(self, request, queryset) -> None:
        self._set_enabled(request, queryset, False)

    @admin.action(description="Enable the selected endpoints", permissions=["change"])
    def enable(self, request, queryset) -> None:
        self._set_enabled(request, queryset, True)


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
