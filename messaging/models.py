"""The message library (Wagtail snippets), the outbox and what happened to each message.

- `Tone`: the admin-editable list of tones a variant can take.
- `MessageVariant`: one piece of content for one channel and language, authored in Wagtail with
  drafts, revisions, locking, preview and the compliance approval workflow. Only live variants
  can be sent; the live row *is* the approved content, and `live_revision` is what a message
  pins.
- `Message`: one outbox row: what was decided (variant revision, channel, time, the
  recommender's decision record), the frozen content that goes out, and its delivery status.
- `MessageEvent`: delivered, opened, clicked, bounced, ... from providers and our tracking
  endpoints; unique by `event_key`, so webhook replays are idempotent.
- `HandoffReview`: an operator dealt with a failed (or unconfirmed) message: re-sent it as a
  new message, or closed it with a reason; reviewed messages leave the hand-offs queue.
- `WebhookReceipt`: a provider request already acted on, by the provider's own id (Twilio's
  MessageSid, Mailgun's signature token), for webhooks whose effects are not message events.

Writes go through `messaging.services`; state changes are model methods that check the allowed
transitions and raise `MessageTransitionError`.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from wagtail.models import (
    DraftStateMixin,
    LockableMixin,
    PreviewableMixin,
    RevisionMixin,
    WorkflowMixin,
)
from wagtail.search import index

from accounts import regions
from accounts.models import MESSAGE_CHANNELS, TransitionError
from accounts.models import Channel as AccountChannel
from accounts.transitions import StateMachine
from messaging import rendering


class MessageTransitionError(TransitionError):
    """A message status change that the outbox state machine does not allow."""


# Channels a message can go out on (calls are tasks for people, not messages): the accounts
# vocabulary's message channels, with its labels.
Channel = models.TextChoices(
    "Channel", [(AccountChannel(v).name, (v, AccountChannel(v).label)) for v in MESSAGE_CHANNELS]
)


class CallToAction(models.TextChoices):
    PAY_IN_FULL = "pay_in_full", _("Pay in full")
    PAYMENT_PLAN = "payment_plan", _("Set up a payment plan")
    SETTLEMENT = "settlement", _("Settle for less")
    PAY_INSTALMENT = "pay_instalment", _("Pay the next instalment")
    CONTACT_US = "contact_us", _("Contact us")
    REQUEST_CALLBACK = "request_callback", _("Ask for a call back")
    UPDATE_PREFERENCES = "update_preferences", _("Update contact preferences")
    VIEW_ACCOUNT = "view_account", _("View the account")
    # Not a collection message: the portal sends a fresh link the debtor asked for from an
    # expired or switched-off one (messaging.services.portal_link_send).
    PORTAL_LINK = "portal_link", _("Notice: a fresh portal link")
    # Not a collection message: the portal tells the debtor a link of theirs was locked after
    # wrong identity answers (messaging.services.portal_lock_notify).
    PORTAL_LOCKED = "portal_locked", _("Security notice: portal link locked")
    # Not collection messages either: an operator resolved the debtor's dispute
    # (messaging.services.dispute_outcome_send).
    DISPUTE_UPHELD = "dispute_upheld", _("Notice: dispute resolved for the debtor")
    DISPUTE_DEBT_STANDS = "dispute_debt_stands", _("Notice: dispute resolved, the debt stands")


# Calls to action of notices sent for a reason of their own, never chosen by the planner as a
# collection message whatever stages their variants name.
NOTICE_CTAS = frozenset(
    {
        CallToAction.PORTAL_LINK,
        CallToAction.PORTAL_LOCKED,
        CallToAction.DISPUTE_UPHELD,
        CallToAction.DISPUTE_DEBT_STANDS,
    }
)
# Notices that go whatever the account's status: a dispute upheld closes the account, and the
# debtor must still be told; a debtor whose accounts are all paused, disputed or closed may still
# ask for a portal link (to see the pause, the dispute or a receipt) and must hear of a lock.
# Stop flags, opt-outs, consent and compliance still apply.
ANY_STATUS_CTAS = frozenset(
    {
        CallToAction.PORTAL_LINK,
        CallToAction.PORTAL_LOCKED,
        CallToAction.DISPUTE_UPHELD,
        CallToAction.DISPUTE_DEBT_STANDS,
    }
)


class JourneyStage(models.TextChoices):
    FIRST_CONTACT = "first_contact", _("First contact")
    EARLY = "early", _("Early")
    MID = "mid", _("Mid")
    LATE = "late", _("Late")
    PLAN_REMINDER = "plan_reminder", _("Plan reminder")
    MISSED_INSTALMENT = "missed_instalment", _("Missed instalment")
    PAUSE_ENDING = "pause_ending", _("Pause ending")


_CHANNEL_LABELS: dict[str, str] = {}


def channel_label(code: str) -> str:
    """A channel's display name for timeline summaries (evaluated once per process)."""
    label = _CHANNEL_LABELS.get(code)
    if label is None:
        label = _CHANNEL_LABELS[code] = str(Channel(code).label)
    return label


def language_choices() -> list[tuple[str, str]]:
    return [(code, name) for code, name in settings.LANGUAGES]


# Which text fields a channel sends; the others are ignored for that channel.
CHANNEL_FIELDS: dict[str, tuple[str, ...]] = {
    Channel.EMAIL: ("email_subject", "email_body"),
    Channel.SMS: ("sms_text",),
    Channel.WHATSAPP: ("sms_text",),
    Channel.LETTER: ("letter_body",),
}
CONTENT_FIELDS = ("email_subject", "email_body", "sms_text", "letter_body")
SMS_MAX_CHARS = 1600  # the longest body SMS providers (Twilio) accept


class Tone(models.Model):
    """A tone of voice a variant is written in (friendly, empathetic, formal, firm, ...)."""

    name = models.CharField(max_length=60, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.TextField(blank=True, help_text="When to use this tone.")
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "name"]

    def __str__(self) -> str:
        return self.name


class MessageVariant(
    WorkflowMixin,
    DraftStateMixin,
    LockableMixin,
    RevisionMixin,
    PreviewableMixin,
    index.Indexed,
    models.Model,
):
    """One message for one channel and language, targeted at journey stages and regions.

    Content is plain text with `{{ placeholder }}` slots from `messaging.rendering.PLACEHOLDERS`;
    `clean()` refuses anything else, so a bad template is a form error when the editor saves.
    Required disclosures are not part of the content: sending appends them per region.
    """

    name = models.CharField(max_length=200)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    language = models.CharField(max_length=8, choices=language_choices, default="en")
    tone = models.ForeignKey(Tone, on_delete=models.PROTECT, related_name="variants")
    cta = models.CharField(
        "call to action", max_length=24, choices=CallToAction.choices, default="pay_in_full"
    )
    stages = models.JSONField(
        "journey stages", default=list, help_text="The stages this message may be sent in."
    )
    regions = models.JSONField(
        "region tags",
        default=list,
        blank=True,
        help_text="Region codes this message is written for (a country covers its "
        "subdivisions: US covers US-MA). Empty: any region.",
    )
    email_subject = models.CharField(max_length=200, blank=True)
    email_body = models.TextField(
        blank=True, help_text="Plain text; blank lines separate paragraphs; links are tracked."
    )
    sms_text = models.TextField(
        "SMS / WhatsApp text",
        blank=True,
        help_text="The region's opt-out text is appended when sent; see the preview for the "
        "final length.",
    )
    letter_body = models.TextField(
        blank=True, help_text="Plain text; the address block, date and disclosures are added."
    )
    notes = models.TextField(blank=True, help_text="Internal notes for the team; never sent.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    search_fields = [
        index.SearchField("name"),
        index.AutocompleteField("name"),
        index.FilterField("channel"),
        index.FilterField("language"),
        index.FilterField("live"),
    ]

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["live", "channel", "language"])]

    def __str__(self) -> str:
        return self.name

    # --- validation ------------------------------------------------------------------------

    def clean(self) -> None:
        """Refuse unknown placeholders, template syntax and missing channel content."""
        super().clean()
        errors: dict[str, list[str]] = {}
        stages = self.stages if isinstance(self.stages, list) else []
        if not stages:
            errors.setdefault("stages", []).append(_("Choose at least one journey stage."))
        bad = [s for s in stages if s not in JourneyStage.values]
        if bad:
            errors.setdefault("stages", []).append(f"Unknown stages: {', '.join(map(str, bad))}.")
        tags = self.regions if isinstance(self.regions, list) else None
        if tags is None:
            errors.setdefault("regions", []).append(_("Region tags must be a list of codes."))
        else:
            bad = [t for t in tags if not isinstance(t, str) or not regions.is_valid(t)]
            if bad:
                errors.setdefault("regions", []).append(
                    f"Unknown region codes: {', '.join(map(str, bad))}."
                )
        for name in CONTENT_FIELDS:
            problems = rendering.template_errors(getattr(self, name) or "")
            if problems:
                errors.setdefault(name, []).extend(problems)
        if "\n" in (self.email_subject or "") or "\r" in (self.email_subject or ""):
            errors.setdefault("email_subject", []).append(_("A subject is one line."))
        if len(self.sms_text or "") > SMS_MAX_CHARS:
            errors.setdefault("sms_text", []).append(
                f"At most {SMS_MAX_CHARS} characters (providers refuse longer texts)."
            )
        for name in CHANNEL_FIELDS.get(self.channel, ()):
            if not (getattr(self, name) or "").strip():
                label = self._meta.get_field(name).verbose_name
                errors.setdefault(name, []).append(
                    f"A {self.get_channel_display()} message needs {label}."
                )
        if errors:
            raise ValidationError(errors)

    # --- targeting -------------------------------------------------------------------------

    def region_matches(self, region: str) -> bool:
        """Whether this variant may be sent to a debtor in `region` (empty tags: any)."""
        return region_tags_match(self.regions, region)

    def content(self) -> dict[str, str]:
        """The text fields this variant's channel sends, by field name."""
        return {name: getattr(self, name) or "" for name in CHANNEL_FIELDS[self.channel]}

    # --- preview (Wagtail) -----------------------------------------------------------------

    @property
    def preview_modes(self):
        return [("", _("Every tagged region"))]

    def get_preview_template(self, request, mode_name):
        return "messaging/preview.html"

    def get_preview_context(self, request, mode_name):
        # The page builds its previews itself ({% variant_previews %}, messaging/templatetags):
        # messaging.previews imports these models.
        context = super().get_preview_context(request, mode_name)
        context["variant"] = self
        return context


def region_tags_match(tags: list[str] | None, region: str) -> bool:
    """Empty tags match any region; a tag matches itself and its subdivisions (US: US-MA)."""
    if not tags:
        return True
    return any(region == tag or region.startswith(f"{tag}-") for tag in tags)


class MessageStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")
    BLOCKED = "blocked", _("Blocked")
    CANCELLED = "cancelled", _("Cancelled")


M = MessageStatus
WAITING_STATUSES = (M.PLANNED, M.QUEUED)
"""Not gone out yet: at most a few days' plan and a dispatcher's batch, so few messages
whatever the outbox's size. The operations cockpit counts them live through a partial index
(`message_waiting_failed`); the other statuses, which hold nearly every message ever made,
it reads from its rollup."""
# `queued` means claimed by one dispatcher under a lease; `handoff_at` marks the moment it was
# given to the backend. `blocked` is decided when the message is planned (no row is ever sent);
# a message blocked at delivery time goes back to `planned` (rescheduled) or is `cancelled`.
MESSAGE_TRANSITIONS: dict[str, frozenset[str]] = {
    M.PLANNED: frozenset({M.QUEUED, M.CANCELLED}),
    M.QUEUED: frozenset({M.SENT, M.FAILED, M.PLANNED, M.CANCELLED}),
    M.SENT: frozenset({M.DELIVERED, M.FAILED}),
    M.DELIVERED: frozenset(),
    M.FAILED: frozenset(),
    M.BLOCKED: frozenset(),
    M.CANCELLED: frozenset(),
}
MESSAGE_MACHINE = StateMachine(
    edges=MESSAGE_TRANSITIONS,
    choices=MessageStatus,
    error=MessageTransitionError,
    refused="A {old} message cannot become {new}.",
    unknown="Unknown message status {new!r}.",
)


class Arm(models.TextChoices):
    """Which arm of the logging policy planned a message (`recommender.policy`)."""

    POLICY = "policy", _("Policy")
    CONTROL = "control", _("Random control")
    SEND_TIME = "send_time", _("Random send time")


class Message(models.Model):
    """One outbox row: a decided message, its frozen content and its delivery state.

    Unique per (account, slot): the planner names the slot (e.g. the planned day), so a retried
    plan finds the existing row instead of creating a second message.
    """

    creditor = models.ForeignKey("accounts.Creditor", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.PROTECT, related_name="messages"
    )
    debtor = models.ForeignKey("accounts.Debtor", on_delete=models.PROTECT, related_name="messages")
    variant = models.ForeignKey(MessageVariant, on_delete=models.PROTECT, related_name="messages")
    variant_revision = models.ForeignKey(
        "wagtailcore.Revision",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The approved revision of the variant that was rendered.",
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    language = models.CharField(max_length=8)
    stage = models.CharField(max_length=20, choices=JourneyStage.choices, blank=True)
    slot = models.CharField(max_length=64, help_text="The planned slot; unique per account.")
    # Frozen content: exactly what goes out, rendered when the message was planned.
    recipient = models.CharField(max_length=500, help_text="Address, phone or postal address.")
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True, help_text="Rendered text with disclosures appended.")
    disclosures = models.JSONField(default=list, blank=True)
    links = models.JSONField(default=list, blank=True, help_text="URLs the message contains.")
    initial = models.BooleanField(
        default=False, help_text="Carries the initial-communication disclosures."
    )
    # Timing and status
    planned_at = models.DateTimeField(help_text="When the planner wanted it sent.")
    due_at = models.DateTimeField(help_text="When it is handed over (moved by reschedules).")
    status = models.CharField(max_length=10, choices=MessageStatus.choices, default=M.PLANNED)
    status_reason = models.CharField(max_length=300, blank=True)
    status_changed_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    claim = models.CharField(max_length=32, blank=True, help_text="Dispatcher run holding it.")
    claimed_until = models.DateTimeField(null=True, blank=True)
    handoff_at = models.DateTimeField(null=True, blank=True)
    # Delivery
    provider = models.CharField(max_length=30, blank=True)
    provider_id = models.CharField(max_length=200, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The debtor's local weekday (0 Monday ... 6 Sunday) and hour at `sent_at`, in the zone
    # compliance reads their time in (`messaging.selectors.send_zone`), stored by the
    # hand-off with `sent_at`: the outbox's local-time filters and the send-time rollup read
    # them instead of converting every send into its debtor's zone.
    sent_local_weekday = models.PositiveSmallIntegerField(null=True, blank=True)
    sent_local_hour = models.PositiveSmallIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    converted_at = models.DateTimeField(null=True, blank=True)
    # The decision record (for the recommender's learning and evaluation)
    arm = models.CharField(max_length=10, choices=Arm.choices, default=Arm.POLICY)
    propensity = models.FloatField(null=True, blank=True)
    model_version = models.CharField(max_length=64, blank=True)
    explanation = models.JSONField(default=dict, blank=True)
    decision_id = models.CharField(
        max_length=64, blank=True, help_text="The compliance decision that allowed it."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-due_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "slot"], name="message_unique_slot"),
            # One message per debtor in flight: two dispatchers never check the same debtor's
            # frequency caps at the same time.
            models.UniqueConstraint(
                fields=["debtor"],
                condition=models.Q(status="queued"),
                name="message_one_queued_per_debtor",
            ),
            models.CheckConstraint(
                condition=models.Q(propensity__isnull=True)
                | models.Q(propensity__gt=0, propensity__lte=1),
                name="message_propensity_in_0_1",
            ),
        ]
        indexes = [
            # The dispatcher's claim reads planned rows in (due_at, id) order: an index in that
            # order lets it stop after one batch instead of sorting every due row.
            models.Index(
                fields=["due_at", "id"], condition=models.Q(status="planned"), name="message_due"
            ),
            models.Index(
                fields=["claimed_until"],
                condition=models.Q(status="queued"),
                name="message_claimed",
            ),
            models.Index(fields=["provider", "provider_id"], name="message_provider_id"),
            models.Index(fields=["debtor", "-sent_at"], name="message_debtor_sent"),
            models.Index(fields=["account", "-sent_at"], name="message_account_sent"),
            # The cockpit's rollups read a day's sends, and the messages changed since their
            # last refresh (collections_site.operations.rollups).
            models.Index(fields=["sent_at"], name="message_sent_at"),
            models.Index(fields=["updated_at"], name="message_updated_at"),
            # The outbox's local-time filters (a cell of the send-time heatmap: an hour, a
            # weekday, a range of send days).
            models.Index(
                fields=["sent_local_hour", "sent_local_weekday", "sent_at"],
                name="message_sent_local",
            ),
            # The outbox status rollup rebuilds the messages created on a day.
            models.Index(fields=["created_at"], name="message_created_at"),
            # The cockpit's live counts: the waiting messages (WAITING_STATUSES) and the last
            # day's failures, a small part of the outbox, with every column its filters read.
            models.Index(
                fields=[
                    "status",
                    "status_changed_at",
                    "creditor",
                    "channel",
                    "created_at",
                    "debtor",
                ],
                condition=models.Q(status__in=[*WAITING_STATUSES, M.FAILED]),
                name="message_waiting_failed",
            ),
        ]

    def __str__(self) -> str:
        return f"Message {self.pk} ({self.channel}, {self.status})"

    # What `transition` changes, saved by `accounts.transitions.transition_save`.
    STATE_FIELDS = (
        "status", "status_reason", "status_changed_at", "updated_at", "claim", "claimed_until",
        "handoff_at",
    )  # fmt: skip

    def can_transition(self, status: str) -> bool:
        return MESSAGE_MACHINE.allows(self.status, status)

    def transition(self, status: str, *, reason: str = "", at=None) -> str:
        """Move to `status` in memory or raise `MessageTransitionError`; returns the old one.

        Services call it through `accounts.transitions.transition_save`, which saves the row
        and its timeline entry together."""
        MESSAGE_MACHINE.check(self.status, status)
        old = self.status
        now = at or timezone.now()
        self.status = status
        self.status_reason = reason[:300]
        self.status_changed_at = now
        # When the row changed, not when the change happened (`at` may be a provider's
        # earlier event time): the cockpit's rollups find the days to rebuild by it.
        self.updated_at = timezone.now()
        if status != M.QUEUED:
            self.claim, self.claimed_until = "", None
        if status == M.PLANNED:
            self.handoff_at = None
        return old


class EventKind(models.TextChoices):
    DELIVERED = "delivered", _("Delivered")
    OPENED = "opened", _("Opened")
    CLICKED = "clicked", _("Clicked")
    BOUNCED = "bounced", _("Bounced")
    FAILED = "failed", _("Failed")
    COMPLAINED = "complained", _("Complained (spam report)")
    REPLIED = "replied", _("Replied")
    CONVERTED = "converted", _("Converted")
    UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")


class MessageEvent(models.Model):
    """Something that happened to a sent message. `event_key` makes every source idempotent:
    the provider's event id, or a key we derive (`open:<id>`, `click:<id>:<n>`, ...)."""

    message = models.ForeignKey(Message, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    event_key = models.CharField(max_length=200, unique=True)
    source = models.CharField(
        max_length=30, help_text="tracking, twilio, anymail:<esp>, portal, payments, ..."
    )
    occurred_at = models.DateTimeField(default=timezone.now)
    received_at = models.DateTimeField(default=timezone.now)
    data = models.JSONField(
        default=dict,
        blank=True,
        help_text="Codes and ids; a reply's text is the only personal data kept here.",
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["message", "kind"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of message {self.message_id}"


class WebhookReceipt(models.Model):
    """One provider webhook request already acted on, named by the provider's own id: a replay
    of it (the same id again) changes nothing. Written in the same transaction as the request's
    effects, so a request that failed half-way leaves no receipt and its retry is acted on.

    Used where `MessageEvent.event_key` cannot guard: inbound texts (STOP/START change the
    debtor, not a message) and Mailgun's signature token (it signs the token and timestamp,
    not the body, so a token seen once must never be honoured again with another body).
    Holds ids and a digest only, never personal data.
    """

    key = models.CharField(max_length=200, unique=True, help_text="e.g. twilio:inbound:<sid>")
    source = models.CharField(max_length=30)
    digest = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the request body, when it matters."
    )
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return self.key


class ReviewAction(models.TextChoices):
    RESENT = "resent", _("Re-sent as a new message")
    CLOSED = "closed", _("Closed")


class HandoffReview(models.Model):
    """An operator's answer to a failed message (hand-off failed, provider failure, or an
    unconfirmed hand-off that may have gone out): one per message, so a second click finds it.

    Written only by `messaging.services.handoff_resend` / `handoff_close`, in the transaction
    that writes the debtor's timeline entry. `resent` links the new message, which went
    through `message_send` and its checks like any other.
    """

    message = models.OneToOneField(
        Message, on_delete=models.PROTECT, primary_key=True, related_name="review"
    )
    creditor = models.ForeignKey("accounts.Creditor", on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=8, choices=ReviewAction.choices)
    reason = models.CharField(max_length=300, blank=True)
    resent = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "hand-off review"

    def __str__(self) -> str:
        return f"Review of message {self.message_id}: {self.action}"
