"""Django admin for the outbox (operators at /django-admin/): read-only.

Messages are created only by `messaging.services.message_send` and change state only through
the delivery and event services, so nothing here edits them; variants and tones live in the
Wagtail admin (messaging/wagtail_hooks.py). A message's change page links to its Wagtail page
("View as sent": the message as the debtor received it, messaging/outbox_admin.py).
"""

from __future__ import annotations

from django.contrib import admin

from accounts.admin import DebtorAccessLogged, ReadOnlyAdmin, ReadOnlyInline
from accounts.tenancy import CreditorScopedAdmin
from accounts.wagtail_readonly import ViewOnlyPermissionPolicy
from messaging.models import Message, MessageEvent
from messaging.outbox_admin import outbox_url


class MessageEventInline(ReadOnlyInline):
    model = MessageEvent
    fields = ["kind", "occurred_at", "source", "event_key"]
    readonly_fields = fields
    show_change_link = False


@admin.register(Message)
class MessageAdmin(DebtorAccessLogged, CreditorScopedAdmin, ReadOnlyAdmin):
    list_display = ["id", "channel", "status", "due_at", "sent_at", "variant", "arm", "account"]
    list_filter = ["status", "channel", "arm", "language"]
    search_fields = ["=id", "=account__external_ref", "=provider_id"]
    date_hierarchy = "due_at"
    list_select_related = ["variant", "account"]
    raw_id_fields = ["account", "debtor", "variant", "variant_revision"]
    inlines = [MessageEventInline]
    # admin/messaging/message/change_form.html shows the link in the object tools.

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        policy = ViewOnlyPermissionPolicy(Message)
        if str(object_id).isdigit() and policy.user_has_permission(request.user, "view"):
            extra_context["view_as_sent_url"] = outbox_url(int(object_id))
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(MessageEvent)
class MessageEventAdmin(CreditorScopedAdmin, ReadOnlyAdmin):
    creditor_path = "message__creditor"
    list_display = ["id", "kind", "message", "source", "occurred_at"]
    list_filter = ["kind", "source"]
    search_fields = ["=message__id", "event_key"]
    raw_id_fields = ["message"]
