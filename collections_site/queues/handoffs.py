"""The failed hand-offs queue: messages that failed (the backend refused them, the attempts ran
out, the provider reported a failure) and unconfirmed hand-offs (the dispatcher stopped while
handing the message over, so it may have reached the debtor), not yet answered by an
operator. Each is reviewed (its page links to the outbox's "as sent" page), re-sent as a new
message through `message_send` (every check runs again), or closed with a reason
(docs/queues.md). Answered messages leave the queue.

Looking needs `messaging.view_message`; answering `messaging.change_handoffreview`.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.contrib import messages
from django.contrib.auth import get_permission_codename
from django.contrib.auth.models import Permission
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404, redirect
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from wagtail.admin.filters import WagtailFilterSet
from wagtail.admin.ui.tables import Column
from wagtail.admin.views import generic
from wagtail.permission_policies import ModelPermissionPolicy

from accounts.models import DomainError
from accounts.services import debtor_data_access_record
from collections_site.queues.common import (
    PauseAccountsBulk,
    QueueBulkAction,
    QueueIndexView,
    QueueViewSet,
    actor,
    item_title,
    may_act,
    operator_time,
    operator_zone_name,
    scoped,
)
from messaging import services
from messaging.as_sent import mask_recipient
from messaging.models import Channel, HandoffReview, Message, MessageStatus
from messaging.outbox_admin import outbox_url
from messaging.services.handoff import HANDOFF_UNCONFIRMED

NAMESPACE = "queues_handoffs"


def handoffs_for(user) -> QuerySet[Message]:
    """Failed messages of `user`'s creditors that no operator has answered yet."""
    failed = (
        Message.objects.filter(status=MessageStatus.FAILED, review__isnull=True)
        .select_related("account", "debtor", "variant")
        .defer("body", "disclosures", "links", "explanation")
    )
    return scoped(failed, user, "creditor")


def handoff_title(message: Message) -> str:
    return item_title(message.account, message.debtor)


def is_unconfirmed(message: Message) -> bool:
    return message.status_reason.startswith(HANDOFF_UNCONFIRMED)


def _kind(message: Message) -> str:
    return str(_("Unconfirmed: may have gone out") if is_unconfirmed(message) else _("Failed"))


class HandoffPermissionPolicy(ModelPermissionPolicy):
    """Outbox readers see the queue; holders of `change_handoffreview` answer it."""

    def user_has_permission(self, user, action: str) -> bool:
        if not (user.is_active and user.is_staff):
            return False
        if action == "view":
            return user.has_perm("messaging.view_message")
        if action == "change":
            return may_act(user, HandoffReview)
        return False


class HandoffFilterSet(WagtailFilterSet):
    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    unconfirmed = django_filters.BooleanFilter(
        label=_("Unconfirmed hand-offs only"), method="by_unconfirmed"
    )

    class Meta:
        model = Message
        fields = ["channel", "unconfirmed"]

    def by_unconfirmed(self, queryset, name, value):
        if value is None:
            return queryset
        match = {"status_reason__startswith": HANDOFF_UNCONFIRMED}
        return queryset.filter(**match) if value else queryset.exclude(**match)


class HandoffIndexView(QueueIndexView):
    page_title = _("Failed hand-offs")

    def item_title(self, item) -> str:
        return handoff_title(item)

    @property
    def may_act(self) -> bool:
        return may_act(self.request.user, HandoffReview)

    def get_base_queryset(self) -> QuerySet:
        return handoffs_for(self.request.user)


class CloseForm(forms.Form):
    reason = forms.CharField(
        label=_("Why close it without re-sending?"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class CloseHandoffsBulk(QueueBulkAction):
    models = [Message]
    queue = staticmethod(handoffs_for)
    title = staticmethod(handoff_title)
    act_model = HandoffReview
    form_class = CloseForm
    display_name = _("Close")
    action_type = "close_handoff"
    aria_label = _("Close the selected failed messages without re-sending")
    confirm_text = _("Close these failed messages without re-sending them?")

    @classmethod
    def execute_action(cls, objects, request=None, form=None, **kwargs):
        reason = form.cleaned_data["reason"]
        for message in objects:
            services.handoff_close(message=message, reason=reason, actor=actor(request))
        return len(objects), 0


class PauseHandoffAccountsBulk(PauseAccountsBulk):
    """Stop the contact cycle on accounts whose messages keep failing while someone finds a
    working address; the failed messages stay in the queue for an answer."""

    models = [Message]
    queue = staticmethod(handoffs_for)
    title = staticmethod(handoff_title)
    act_model = HandoffReview
    account_of = staticmethod(lambda message: message.account)
    creditor_of = staticmethod(lambda message: message.creditor_id)
    aria_label = _("Pause collection on the accounts of the selected failed messages")
    confirm_text = _("Pause collection on the accounts of these failed messages?")


BULK_ACTIONS = [CloseHandoffsBulk, PauseHandoffAccountsBulk]


class HandoffInspectView(generic.InspectView):
    """One failed message: why it failed, a link to it as sent, and the two answers."""

    template_name = "queues/handoff_inspect.html"

    def get_object(self, queryset=None) -> Message:
        messages_ = scoped(
            Message.objects.select_related("account__creditor", "debtor", "variant"),
            self.request.user,
            "creditor",
        ).filter(status=MessageStatus.FAILED)
        return get_object_or_404(messages_, pk=self.pk)

    def get_page_subtitle(self):
        return handoff_title(self.object)

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        if not may_act(request.user, HandoffReview):
            messages.error(request, _("You may look at failed messages but not answer them."))
            return redirect(request.path)
        if HandoffReview.objects.filter(message=self.object).exists():  # a second click
            messages.info(request, _("This message was already answered."))
            return redirect(request.path)
        action = request.POST.get("action", "")
        try:
            if action == "resend":
                review = services.handoff_resend(message=self.object, actor=actor(request))
                if review.resent_id:
                    messages.success(
                        request,
                        _("Re-sent as message %(id)s (%(status)s).")
                        % {"id": review.resent_id, "status": review.resent.get_status_display()},
                    )
            elif action == "close":
                form = CloseForm(request.POST)
                if not form.is_valid():
                    return self.render_to_response(self.get_context_data(close_form=form))
                services.handoff_close(
                    message=self.object, reason=form.cleaned_data["reason"], actor=actor(request)
                )
                messages.success(request, _("Closed."))
            else:
                messages.error(request, _("Unknown action."))
        except DomainError as exc:
            messages.error(request, str(exc))
        return redirect(request.path)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        message = self.object
        debtor_data_access_record(
            user=self.request.user, debtor=message.debtor, page=self.request.path
        )
        review = HandoffReview.objects.filter(message=message).select_related("resent").first()
        context.update(
            message=message,
            review=review,
            unconfirmed=is_unconfirmed(message),
            recipient=mask_recipient(message.channel, message.recipient),
            as_sent_url=outbox_url(message.pk),
            resent_url=outbox_url(review.resent_id) if review and review.resent_id else "",
            handoff_operator=operator_time(message.handoff_at),
            updated_operator=operator_time(message.status_changed_at),
            zone=operator_zone_name(),
            may_act=may_act(self.request.user, HandoffReview),
            close_form=kwargs.get("close_form") or CloseForm(),
        )
        return context


class HandoffViewSet(QueueViewSet):
    """A second view of the outbox's messages: the outbox's view set owns the model's admin
    URL finder and permissions, so this one registers neither."""

    model = Message
    name = "handoffs"
    url_prefix = "queues/handoffs"
    url_namespace = NAMESPACE
    icon = "mail"
    menu_label = _("Failed hand-offs")
    menu_order = 30
    index_view_class = HandoffIndexView
    inspect_view_class = HandoffInspectView
    filterset_class = HandoffFilterSet
    search_fields = ["account__external_ref"]
    ordering = ["status_changed_at", "id"]
    list_display = [
        "__str__",
        Column("kind", label=_("What happened"), accessor=_kind),
        Column(
            "status_changed_at",
            label=_("Failed at"),
            accessor=lambda m: operator_time(m.status_changed_at),
            sort_key="status_changed_at",
        ),
        Column("channel", label=_("Channel"), accessor="get_channel_display"),
        Column(
            "reason", label=_("Reason"), accessor=lambda m: Truncator(m.status_reason).chars(100)
        ),
    ]

    @property
    def permission_policy(self):
        return HandoffPermissionPolicy(self.model)

    def register_admin_url_finder(self):
        pass

    def register_permissions(self):
        pass

    def get_permissions_to_register(self):
        codename = get_permission_codename("change", HandoffReview._meta)
        return Permission.objects.filter(content_type__app_label="messaging", codename=codename)
