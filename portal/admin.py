"""Operators' views of the portal (Django admin): call-back tasks, disputes, link requests.

Status changes go through `portal.services` (admin actions call them), so every change is on
the debtor's timeline. Operators' daily work on disputes and call backs is in the Wagtail
admin's work queues (`collections_site/queues/`, docs/queues.md); the actions here call the
same services.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import CharField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.admin import DebtorAccessLogged
from accounts.models import DomainError
from accounts.roles import sees_dispute_evidence
from accounts.tenancy import CreditorScopedAdmin
from messaging.models import Channel, Message, MessageStatus
from portal import services
from portal.models import (
    CallbackRequest,
    CallbackStatus,
    LinkRequest,
    LinkRequestStatus,
    PortalDispute,
)


def _actor(request: HttpRequest) -> str:
    return f"admin:{request.user.pk}"


@admin.register(CallbackRequest)
class CallbackRequestAdmin(DebtorAccessLogged, CreditorScopedAdmin, admin.ModelAdmin):
    creditor_path = "debtor__creditor"
    """The operators' call-back task list: open requests first, earliest window first."""

    list_display = ["window_start", "window_end", "window", "debtor", "phone", "status"]
    list_filter = ["status", "window"]
    date_hierarchy = "window_start"
    search_fields = ["debtor__external_ref", "debtor__last_name"]
    readonly_fields = [f.name for f in CallbackRequest._meta.fields]
    actions = ["mark_done"]

    @admin.display(description="phone")
    def phone(self, obj: CallbackRequest) -> str:
        return obj.debtor.phone

    def get_queryset(self, request: HttpRequest) -> QuerySet[CallbackRequest]:
        return super().get_queryset(request).select_related("debtor")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Mark selected call backs as done", permissions=["change"])
    def mark_done(self, request: HttpRequest, queryset: QuerySet[CallbackRequest]) -> None:
        done = 0
        for callback in queryset.filter(status=CallbackStatus.OPEN):
            services.callback_mark_done(callback=callback, actor=_actor(request))
            done += 1
        self.message_user(request, f"{done} call back(s) marked done.", messages.SUCCESS)


@admin.register(PortalDispute)
class PortalDisputeAdmin(DebtorAccessLogged, CreditorScopedAdmin, admin.ModelAdmin):
    debtor_path = "account.debtor"
    creditor_path = "account__creditor"
    """Disputes raised in the portal; resolving one moves the account on (see actions, which
    call the same `dispute_resolve` as the Wagtail disputes queue: the outcome is sent)."""

    list_display = ["created_at", "account", "reason", "status", "document_link"]
    list_filter = ["status", "reason"]
    search_fields = ["account__external_ref"]
    readonly_fields = [
        "account",
        "reason",
        "details",
        "document_type",
        "document_size",
        "document_link",
        "status",
        "created_at",
        "resolved_at",
    ]
    exclude = ["document"]
    actions = ["resolve_debt_stands", "resolve_upheld"]
    # The debtor's evidence, which creditor users see only when the agency allows it
    # (`accounts.roles.sees_dispute_evidence`).
    EVIDENCE = ("details", "document_type", "document_size", "document_link")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_list_display(self, request: HttpRequest):
        shown = super().get_list_display(request)
        if sees_dispute_evidence(request.user):
            return shown
        return [name for name in shown if name not in self.EVIDENCE]

    def get_fields(self, request: HttpRequest, obj=None):
        fields = super().get_fields(request, obj)
        if sees_dispute_evidence(request.user):
            return fields
        return [name for name in fields if name not in self.EVIDENCE]

    @admin.display(description="document")
    def document_link(self, obj: PortalDispute) -> str:
        if not obj.document:
            return "-"
        url = reverse("admin:portal_portaldispute_document", args=[obj.pk])
        return format_html('<a href="{}">download</a>', url)

    def get_urls(self):
        return [
            path(
                "<int:pk>/document/",
                self.admin_site.admin_view(self.document_view),
                name="portal_portaldispute_document",
            ),
            *super().get_urls(),
        ]

    def document_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Uploads are not public media: operators download them through the admin only."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        dispute = get_object_or_404(self.get_queryset(request), pk=pk)  # the user's creditors
        if not dispute.document or not sees_dispute_evidence(request.user):
            raise Http404
        self.debtor_access_record(request, dispute)
        response = FileResponse(dispute.document.open("rb"), content_type=dispute.document_type)
        response["Content-Disposition"] = f'attachment; filename="dispute-{pk}"'
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def _resolve(self, request: HttpRequest, queryset, *, upheld: bool) -> None:
        for dispute in queryset.select_related("account"):
            try:
                services.dispute_resolve(dispute=dispute, upheld=upheld, actor=_actor(request))
            except DomainError as exc:
                self.message_user(request, f"Dispute {dispute.pk}: {exc}", messages.ERROR)

    @admin.action(
        description="Resolve: the debt stands (account back to active)", permissions=["change"]
    )
    def resolve_debt_stands(self, request: HttpRequest, queryset) -> None:
        self._resolve(request, queryset, upheld=False)

    @admin.action(description="Resolve: dispute upheld (account closed)", permissions=["change"])
    def resolve_upheld(self, request: HttpRequest, queryset) -> None:
        self._resolve(request, queryset, upheld=True)


@admin.register(LinkRequest)
class LinkRequestAdmin(DebtorAccessLogged, CreditorScopedAdmin, admin.ModelAdmin):
    creditor_path = "debtor__creditor"
    """Fresh links debtors asked for; messaging sends them to the contact details on file."""

    list_display = ["created_at", "debtor", "status", "message"]
    list_filter = ["status"]
    readonly_fields = ["debtor", "old_jti", "status", "created_at", "message"]
    actions = ["send_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[LinkRequest]:
        """Each request with its message (the slot `portal-link-<id>`), in one query."""
        slot = Concat(Value("portal-link-"), Cast(OuterRef("pk"), CharField()))
        sent = Message.objects.filter(debtor=OuterRef("debtor"), slot=slot).order_by("pk")
        return (
            super()
            .get_queryset(request)
            .select_related("debtor")
            .annotate(
                message_status=Subquery(sent.values("status")[:1]),
                message_channel=Subquery(sent.values("channel")[:1]),
                message_reason=Subquery(sent.values("status_reason")[:1]),
            )
        )

    @admin.display(description="message")
    def message(self, obj: LinkRequest) -> str:
        """What became of the request: the message's channel and status (and why it was
        blocked), or why there is none."""
        status = getattr(obj, "message_status", None)
        if status is None:
            return "none: no live fresh-link notice for the debtor, or no address on file"
        said = f"{Channel(obj.message_channel).label}, {MessageStatus(status).label.lower()}"
        reason = obj.message_reason if status == MessageStatus.BLOCKED else ""
        return f"{said}: {reason}" if reason else said

    @admin.action(
        description="Try again to send the selected pending links", permissions=["change"]
    )
    def send_again(self, request: HttpRequest, queryset: QuerySet[LinkRequest]) -> None:
        """Pending requests again through `link_request_dispatch`: after a "Notice: a fresh
        portal link" variant was published, or an address added. One message per request
        still: a request whose message was blocked keeps it (its reasons on the timeline)."""
        pending = list(
            queryset.filter(status=LinkRequestStatus.PENDING).values_list("pk", flat=True)
        )
        for pk in pending:
            services.link_request_dispatch(link_request_id=pk)
        sent = LinkRequest.objects.filter(pk__in=pending, status=LinkRequestStatus.SENT).count()
        left = len(pending) - sent
        if sent or not left:
            self.message_user(request, f"{sent} link(s) sent.", messages.SUCCESS)
        if left:
            self.message_user(
                request,
                f"{left} still pending: see the message column (a message the rules refused, "
                'or none: no live "Notice: a fresh portal link" variant for the debtor\'s '
                "language and region, or no address on file).",
                messages.WARNING,
            )
