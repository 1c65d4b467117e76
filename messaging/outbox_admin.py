"""The outbox in the Wagtail admin: every message, and each one as its recipient received it.

Read-only. Messages are written only by `messaging.services`; here staff holding the
`messaging.view_message` permission list them (filters: status, channel, arm, language,
creditor) and open one (`inspect`): the email, text or letter rebuilt by the dispatch code
(`messaging.as_sent`) in a sandboxed frame that loads nothing and follows no link, beside its
status timeline, events, decision record, variant revision, account and debtor.

Stable URL names (for links from other pages): `messaging_outbox:index` and
`messaging_outbox:inspect` (argument: the message id); `outbox_url(message_id)` builds the
latter.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import django_filters
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.functional import cached_property, lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from wagtail.admin.filters import WagtailFilterSet
from wagtail.admin.ui.tables import Column, StatusTagColumn
from wagtail.admin.views import generic
from wagtail.admin.viewsets.model import ModelViewSet
from wagtail.admin.widgets import AdminDateInput
from wagtail.admin.widgets.button import HeaderButton
from wagtail.permissions import policy_registry

from accounts.models import Activity, Creditor
from accounts.services import debtor_data_access_record
from accounts.tenancy import scope_queryset
from accounts.wagtail_readonly import ReadOnlyViewSetMixin
from messaging.as_sent import PREVIEW_CSP, mask_recipient, message_as_sent
from messaging.models import (
    Arm,
    Channel,
    Message,
    MessageStatus,
    MessageVariant,
    language_choices,
)
from messaging.selectors import messages_sent_local

NAMESPACE = "messaging_outbox"
MENU_HOOK = "register_messaging_menu_item"


def outbox_url(message_id: int) -> str:
    """The admin page showing message `message_id` as it was sent."""
    return reverse(f"{NAMESPACE}:inspect", args=[message_id])


# --- formatting ------------------------------------------------------------------------------


def _local(value: datetime | None, fmt: str = "Y-m-d H:i") -> str:
    """A stored UTC time in the operator's time zone (Wagtail activates it per request)."""
    return date_format(timezone.localtime(value), fmt) if value else ""


_zone_name = lazy(timezone.get_current_timezone_name, str)


def _when(message: Message) -> str:
    """Sent: when it left; waiting: when it is due; blocked, cancelled, failed: never left."""
    if message.sent_at:
        return _local(message.sent_at)
    waiting = message.status in (MessageStatus.PLANNED, MessageStatus.QUEUED)
    return f"{_local(message.due_at)} ({_('due') if waiting else _('not sent')})"


_STATUS_PRIMARY = {MessageStatus.SENT, MessageStatus.DELIVERED}


# --- listing ---------------------------------------------------------------------------------


_REACHED = [
    ("delivered", _("Delivered")),
    ("opened", _("Opened")),
    ("clicked", _("Clicked")),
    ("converted", _("Converted")),
]


_WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]
_HOURS = [(h, f"{h:02d}:00-{h:02d}:59") for h in range(24)]


def _utc_day_start(day) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class MessageFilterSet(WagtailFilterSet):
    """The outbox's filters. The cockpit's charts link here with the ones that list the rows a
    mark counts: the UTC days a message was sent (`sent_from`, `sent_to`, the rollups' days)
    or created (`created_from`, `created_to`: the Health page's messages by status), its
    variant, the debtor's region, how far it got (`reached`) and the debtor's local weekday
    and hour when it was sent (`local_weekday`, `local_hour`: the send-time heatmap's cells,
    as the hand-off stored them, in the zone `messaging.selectors.send_zone` gives)."""

    status = django_filters.ChoiceFilter(choices=MessageStatus.choices)
    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    arm = django_filters.ChoiceFilter(choices=Arm.choices)
    language = django_filters.ChoiceFilter(choices=language_choices)
    # Only the creditors the signed-in user may see (accounts/tenancy.py).
    creditor = django_filters.ModelChoiceFilter(
        queryset=lambda request: scope_queryset(
            Creditor.objects.order_by("name"), request.user, "pk"
        )
    )
    sent_from = django_filters.DateFilter(
        label=_("Sent on or after (UTC day)"), method="_sent_from", widget=AdminDateInput
    )
    sent_to = django_filters.DateFilter(
        label=_("Sent on or before (UTC day)"), method="_sent_to", widget=AdminDateInput
    )
    created_from = django_filters.DateFilter(
        label=_("Created on or after (UTC day)"), method="_created_from", widget=AdminDateInput
    )
    created_to = django_filters.DateFilter(
        label=_("Created on or before (UTC day)"), method="_created_to", widget=AdminDateInput
    )
    local_weekday = django_filters.TypedChoiceFilter(
        label=_("Sent on the debtor's weekday"),
        choices=_WEEKDAYS,
        coerce=int,
        method="_local_time",
    )
    local_hour = django_filters.TypedChoiceFilter(
        label=_("Sent at the debtor's hour"), choices=_HOURS, coerce=int, method="_local_time"
    )
    reached = django_filters.ChoiceFilter(
        label=_("Got as far as"), choices=_REACHED, method="_reached"
    )
    region = django_filters.CharFilter(label=_("Debtor's region"), field_name="debtor__region")
    variant = django_filters.NumberFilter(label=_("Variant id"), field_name="variant_id")
    stage = django_filters.CharFilter(label=_("Journey stage"))
    planned = django_filters.BooleanFilter(
        label=_("Chosen by the planner"), field_name="decision", lookup_expr="isnull", exclude=True
    )

    class Meta:
        model = Message
        fields = ["status", "channel", "arm", "language", "creditor"]

    def _sent_from(self, queryset, name, value):
        return queryset.filter(sent_at__gte=_utc_day_start(value))

    def _sent_to(self, queryset, name, value):
        return queryset.filter(sent_at__lt=_utc_day_start(value) + timedelta(days=1))

    def _created_from(self, queryset, name, value):
        return queryset.filter(created_at__gte=_utc_day_start(value))

    def _created_to(self, queryset, name, value):
        return queryset.filter(created_at__lt=_utc_day_start(value) + timedelta(days=1))

    def _local_time(self, queryset, name, value):
        """The local weekday or hour the hand-off stored with the send (each filter its own)."""
        if name == "local_hour":
            return messages_sent_local(queryset, hour=value)
        return messages_sent_local(queryset, weekday=value)

    def _reached(self, queryset, name, value):
        return queryset.filter(**{f"{value}_at__isnull": False})


class MessageIndexView(generic.IndexView):
    page_title = _("Outbox")

    def get_base_queryset(self) -> QuerySet:
        messages = (
            Message.objects.select_related("variant", "account")
            .defer("body", "disclosures", "links", "explanation")
            .order_by("-id")
        )
        return scope_queryset(messages, self.request.user, "creditor")

    def search_queryset(self, queryset: QuerySet) -> QuerySet:
        """Exact matches only (the outbox is large): a message id, an account reference or a
        provider's message id."""
        if not self.is_searching:
            return queryset
        query = self.search_query.strip()
        match = Q(account__external_ref=query) | Q(provider_id=query)
        if query.isdigit():
            match |= Q(pk=int(query))
        return queryset.filter(match)


# --- one message -----------------------------------------------------------------------------


class MessageInspectView(generic.InspectView):
    """The message as its recipient received it, with everything that happened to it."""

    template_name = "messaging/admin/message_inspect.html"
    page_title = _("As sent")

    def get_object(self, queryset=None) -> Message:
        messages = Message.objects.select_related(
            "account__creditor", "debtor", "variant", "variant_revision"
        )
        # Another creditor's message is not found, exactly like a missing one.
        return get_object_or_404(
            scope_queryset(messages, self.request.user, "creditor"), pk=self.pk
        )

    @cached_property
    def header_more_buttons(self):
        return []

    def get_header_buttons(self):
        url = _django_admin_url(self.request.user, "messaging", "message", self.object.pk)
        if not url:
            return []
        return [HeaderButton(_("Raw fields (Django admin)"), url=url, icon_name="code")]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        message, user = self.object, self.request.user
        # The page shows the recipient and what they were sent: the staff access log's row
        # (docs/privacy.md), one insert.
        debtor_data_access_record(user=user, debtor=message.debtor, page=self.request.path)
        rendered = bool(message.body)
        context.update(
            message=message,
            as_sent=message_as_sent(message) if rendered else None,
            rendered=rendered,
            status_primary=message.status in _STATUS_PRIMARY,
            preview_csp=PREVIEW_CSP,
            milestones=_milestones(message),
            debtor_local=_debtor_local(message),
            events=[
                {"event": e, "data": _json(e.data)}
                for e in message.events.order_by("occurred_at", "id")
            ],
            activities=Activity.objects.filter(
                account_id=message.account_id, data__message_id=message.pk
            ).order_by("occurred_at", "id"),
            explanation=_json(message.explanation),
            variant_url=_variant_url(user, "edit", message.variant_id),
            revision_url=_variant_url(
                user, "revisions_view", message.variant_id, message.variant_revision_id
            ),
            account_url=_django_admin_url(user, "accounts", "account", message.account_id),
            debtor_url=_django_admin_url(user, "accounts", "debtor", message.debtor_id),
            zone=timezone.get_current_timezone_name(),
        )
        return context


def _milestones(message: Message) -> list[tuple[str, datetime | None]]:
    return [
        (_("Planned (decided)"), message.created_at),
        (_("Planned for"), message.planned_at),
        (_("Due"), message.due_at),
        (_("Handed over"), message.handoff_at),
        (_("Sent"), message.sent_at),
        (_("Delivered"), message.delivered_at),
        (_("Opened"), message.opened_at),
        (_("Clicked"), message.clicked_at),
        (_("Converted"), message.converted_at),
    ]


def _debtor_local(message: Message) -> str:
    """When it reached (or is due to reach) the debtor, on the debtor's own clock."""
    moment = message.sent_at or message.due_at
    try:
        zone = ZoneInfo(message.debtor.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ""
    return f"{date_format(moment.astimezone(zone), 'D Y-m-d H:i')} ({message.debtor.timezone})"


def _json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) if value else ""


def _variant_url(user, view: str, *args) -> str:
    """A page of the variant in the snippet admin, if this user may open it."""
    policy = policy_registry.get_by_type(MessageVariant)
    if not policy.user_has_any_permission(user, ["change", "view"]):
        return ""
    try:
        return reverse(f"wagtailsnippets_messaging_messagevariant:{view}", args=args)
    except NoReverseMatch:
        return ""


def _django_admin_url(user, app: str, model: str, pk: int) -> str:
    """The Django admin change page of a row, if this user may see it there."""
    if not (
        user.is_staff
        and (user.has_perm(f"{app}.view_{model}") or user.has_perm(f"{app}.change_{model}"))
    ):
        return ""
    try:
        return reverse(f"admin:{app}_{model}_change", args=[pk])
    except NoReverseMatch:
        return ""


# --- the viewset -----------------------------------------------------------------------------


class MessageViewSet(ReadOnlyViewSetMixin, ModelViewSet):
    """Registered by `messaging.wagtail_hooks`; its menu item sits in the "Messages" group."""

    model = Message
    name = "outbox"
    url_prefix = "messaging/outbox"
    url_namespace = NAMESPACE
    icon = "list-ul"
    menu_label = _("Outbox")
    menu_name = "outbox"
    menu_order = 30
    menu_hook = MENU_HOOK
    add_to_reference_index = False  # never scan outbox rows on save
    index_view_class = MessageIndexView
    inspect_view_class = MessageInspectView
    filterset_class = MessageFilterSet
    search_fields = ["account__external_ref"]  # see MessageIndexView.search_queryset
    list_per_page = 50
    ordering = "-id"
    list_display = [
        "id",  # the title column: links to the message
        Column(
            "when",
            label=format_lazy("{} ({})", _("When"), _zone_name()),
            accessor=_when,
            sort_key="due_at",
        ),
        Column("channel", label=_("Channel"), accessor="get_channel_display"),
        StatusTagColumn(
            "status",
            label=_("Status"),
            accessor="get_status_display",
            primary=lambda m: m.status in _STATUS_PRIMARY,
            sort_key="status",
        ),
        Column(
            "recipient",
            label=_("Recipient"),
            accessor=lambda m: mask_recipient(m.channel, m.recipient),
        ),
        Column("variant", label=_("Variant"), accessor="variant.name"),
        Column("arm", label=_("Arm"), accessor="get_arm_display"),
        Column("account", label=_("Account"), accessor="account.external_ref"),
    ]
