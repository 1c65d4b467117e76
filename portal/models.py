"""The portal's own rows: lockouts, link requests, checkouts, settlement offers, pauses,
disputes and call-back requests.

Everything that changes a debt (balance, status, plan) still goes through `accounts`; these
rows record what the debtor asked for and what the payment provider said. Written only by
`portal.services`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import MONEY, Account, Debtor, DomainError, Payment
from accounts.transitions import StateMachine
from portal.gateways.base import FAILURE_REASONS, failure_category


class LockScope(models.TextChoices):
    LINK = "link", _("Link")
    IP = "ip", _("IP address")


class VerificationLock(models.Model):
    """Failed identity answers counted per link (token jti) and per client IP (HMAC digest).

    Kept in the database, not the cache, so a lockout holds across every web worker and
    machine; `portal.services.identity_verify` reads and counts under this row's lock. The IP
    is stored only as a keyed digest.

    A link's `failures` count since its last lock (however spread out in time); `step` is how
    many times it was locked, and `dead_at` when it was switched off for good after the last
    step. An IP's failures count within a window (`window_started_at`).
    """

    scope = models.CharField(max_length=8, choices=LockScope.choices)
    key = models.CharField(max_length=64)
    failures = models.PositiveSmallIntegerField(default=0)
    window_started_at = models.DateTimeField(default=timezone.now)
    locked_until = models.DateTimeField(null=True, blank=True)
    step = models.PositiveSmallIntegerField(default=0)
    dead_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="verification_lock_unique")
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key[:8]}"


class LinkRequestStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")


class LinkRequest(models.Model):
    """A debtor with an expired link asked for a fresh one, to the contact details on file.

    Messaging sends it (`messaging` picks up pending rows, or is called by
    `portal.services.link_request_dispatch`); the portal never sends anything itself.
    """

    debtor = models.ForeignKey(Debtor, on_delete=models.CASCADE, related_name="link_requests")
    old_jti = models.CharField(max_length=32)
    status = models.CharField(
        max_length=8, choices=LinkRequestStatus.choices, default=LinkRequestStatus.PENDING
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"Link request {self.pk} for debtor {self.debtor_id}"


class CheckoutPurpose(models.TextChoices):
    FULL = "full", _("Pay in full")
    PART = "part", _("Part payment")
    INSTALMENT = "instalment", _("Instalment")
    SETTLEMENT = "settlement", _("Settlement")


class CheckoutStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    REQUIRES_ACTION = "requires_action", _("Waiting for authentication")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class Checkout(models.Model):
    """One payment attempt from the portal, keyed by the form's nonce.

    A double-clicked form posts the same nonce and finds this row again; the provider's
    payment id becomes the `accounts.Payment` idempotency key, so a replayed webhook and the
    browser's return can both complete it and only one payment is recorded.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    debtor = models.ForeignKey(Debtor, on_delete=models.PROTECT, related_name="checkouts")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="checkouts")
    purpose = models.CharField(max_length=12, choices=CheckoutPurpose.choices)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    nonce = models.CharField(max_length=64, unique=True)
    gateway = models.CharField(max_length=20)
    provider_ref = models.CharField(max_length=200, blank=True, db_index=True)
    status = models.CharField(
        max_length=16, choices=CheckoutStatus.choices, default=CheckoutStatus.PENDING
    )
    failure_code = models.CharField(max_length=60, blank=True)
    action_url = models.URLField(max_length=1000, blank=True)
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    settlement_offer = models.ForeignKey(
        "SettlementOffer", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "provider_ref"],
                condition=~models.Q(provider_ref=""),
                name="checkout_unique_provider_ref",
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="checkout_positive"),
        ]

    def __str__(self) -> str:
        return f"Checkout {self.pk}"

    @property
    def failure_category(self) -> str:
        """What creditors are told the failure was (`portal.gateways.FAILURE_REASONS`); blank
        unless failed."""
        return failure_category(self.failure_code) if self.status == CheckoutStatus.FAILED else ""

    @property
    def failure_reason(self) -> str:
        return FAILURE_REASONS.get(self.failure_category, "")


class SettlementStatus(models.TextChoices):
    OFFERED = "offered", _("Offered")
    ACCEPTED = "accepted", _("Accepted")
    VOID = "void", _("Void")


class SettlementOffer(models.Model):
    """A discount for paying a lump sum before `expires_at`, within the creditor's policy.

    Paying `amount` settles the account (status `settled`); `written_off` records the
    remainder the creditor forgives, which stays as the account's `current_balance`.
    """

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    balance = models.DecimalField(**MONEY, help_text="The balance the offer was made on.")
    discount_pct = models.DecimalField(max_digits=5, decimal_places=2)
    amount = models.DecimalField(**MONEY, help_text="What the debtor pays to settle.")
    expires_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=SettlementStatus.choices, default=SettlementStatus.OFFERED
    )
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    written_off = models.DecimalField(**MONEY, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Settlement offer {self.pk} on {self.account_id}"


class PauseReason(models.TextChoices):
    JOB_LOSS = "job_loss", _("I lost my job or income")
    ILLNESS = "illness", _("Illness")
    OTHER = "other", _("Something else")


class PauseRequest(models.Model):
    """A 'breathing space': collection contact stops until `until` (the account is paused).

    The reason lives here, not on the timeline, because it may be health data.
    """

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=10, choices=PauseReason.choices)
    days = models.PositiveSmallIntegerField()
    until = models.DateField()
    previous_status = models.CharField(max_length=12)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Pause {self.pk} of {self.account_id} until {self.until}"


class DisputeReason(models.TextChoices):
    NOT_MINE = "not_mine", _("This is not my debt")
    PAID = "paid", _("I have already paid")
    AMOUNT = "amount", _("The amount is wrong")
    OTHER = "other", _("Another reason")


class DisputeStatus(models.TextChoices):
    OPEN = "open", _("Open")
    AWAITING_EVIDENCE = "awaiting_evidence", _("Waiting for the creditor's evidence")
    UPHELD = "upheld", _("Resolved for the debtor (upheld)")
    DEBT_STANDS = "debt_stands", _("Resolved: the debt stands")


D = DisputeStatus
DISPUTE_RESOLVED = frozenset({D.UPHELD, D.DEBT_STANDS})
# Open and waiting move between each other; either resolves; a resolved dispute is final.
DISPUTE_TRANSITIONS: dict[str, frozenset[str]] = {
    D.OPEN: frozenset({D.AWAITING_EVIDENCE, D.UPHELD, D.DEBT_STANDS}),
    D.AWAITING_EVIDENCE: frozenset({D.OPEN, D.UPHELD, D.DEBT_STANDS}),
    D.UPHELD: frozenset(),
    D.DEBT_STANDS: frozenset(),
}


class DisputeTransitionError(DomainError):
    """A dispute status change its state machine does not allow."""


DISPUTE_MACHINE = StateMachine(
    edges=DISPUTE_TRANSITIONS,
    choices=DisputeStatus,
    error=DisputeTransitionError,
    refused="A dispute that is {old} cannot become {new}.",
    unknown="Unknown dispute status {new!r}.",
)


class PortalDispute(models.Model):
    """A dispute the debtor raised; collection contact stops until an operator resolves it.

    `due_at` is when the operators mean to have answered it (the region's response period,
    `PORTAL_DISPUTE_RESPONSE_DAYS`, docs/queues.md); the account stays disputed, and every
    collection contact blocked, until it is resolved, however late. Status changes go through
    `portal.services` (`transition_save` with a timeline entry).
    """

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=10, choices=DisputeReason.choices)
    details = models.TextField(blank=True)
    # Stored under a random name: the debtor's own file name may carry personal data.
    document = models.FileField(upload_to="portal/disputes/%Y/%m/", blank=True)
    document_type = models.CharField(max_length=40, blank=True)
    document_size = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=DisputeStatus.choices, default=DisputeStatus.OPEN
    )
    created_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField("respond by", null=True, blank=True, db_index=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status_changed_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=100, blank=True)
    resolution_note = models.TextField(
        blank=True, help_text="The operator's note on the outcome (staff only, not sent)."
    )
    outcome_message = models.ForeignKey(
        "messaging.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    STATE_FIELDS = ("status", "status_changed_at", "resolved_at")

    class Meta:
        verbose_name = "dispute"

    def __str__(self) -> str:
        return f"Dispute {self.pk} on {self.account_id}"

    @property
    def resolved(self) -> bool:
        return self.status in DISPUTE_RESOLVED

    def transition(self, new_status: str) -> str:
        """Move to `new_status` in memory, or raise `DisputeTransitionError`; the old status.
        Services call it through `transition_save`."""
        DISPUTE_MACHINE.check(self.status, new_status)
        old, now = self.status, timezone.now()
        self.status, self.status_changed_at = new_status, now
        if new_status in DISPUTE_RESOLVED:
            self.resolved_at = now
        return old


class CallbackStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")


class CallbackWindow(models.TextChoices):
    MORNING = "morning", _("Morning (9:00-12:00)")
    AFTERNOON = "afternoon", _("Afternoon (12:00-17:00)")
    EVENING = "evening", _("Early evening (17:00-20:00)")


CALLBACK_HOURS: dict[str, tuple[int, int]] = {
    CallbackWindow.MORNING: (9, 12),
    CallbackWindow.AFTERNOON: (12, 17),
    CallbackWindow.EVENING: (17, 20),
}


class CallOutcome(models.TextChoices):
    NO_ANSWER = "no_answer", _("No answer")
    VOICEMAIL = "voicemail", _("Voicemail left")
    CONVERSATION = "conversation", _("Conversation")
    PROMISE = "promise", _("Promise to pay")


# What each call outcome is in the compliance ledger (a promise was a conversation).
CALL_LEDGER_OUTCOME: dict[str, str] = {
    CallOutcome.NO_ANSWER: "no_answer",
    CallOutcome.VOICEMAIL: "voicemail",
    CallOutcome.CONVERSATION: "conversation",
    CallOutcome.PROMISE: "conversation",
}


class PromiseStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for the promised date")
    KEPT = "kept", _("Kept")
    BROKEN = "broken", _("Broken")


class CallbackRequest(models.Model):
    """An operator task: call the debtor back on the number on file within the window."""

    debtor = models.ForeignKey(Debtor, on_delete=models.PROTECT, related_name="callbacks")
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    window = models.CharField(max_length=10, choices=CallbackWindow.choices)
    window_start = models.DateTimeField(db_index=True)
    window_end = models.DateTimeField()
    status = models.CharField(
        max_length=6, choices=CallbackStatus.choices, default=CallbackStatus.OPEN
    )
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.CharField(max_length=100, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The call's outcome, logged by the operator (portal.services.callback_outcome_log).
    outcome = models.CharField(max_length=14, choices=CallOutcome.choices, blank=True)
    outcome_note = models.TextField(blank=True)
    promise_amount = models.DecimalField(**MONEY, null=True, blank=True)
    promise_date = models.DateField(null=True, blank=True)
    promise_status = models.CharField(max_length=8, choices=PromiseStatus.choices, blank=True)
    # A broken promise books a follow-up call back; it points at the call it follows up.
    follows_up = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["status", "window_start"]
        verbose_name = "call-back request"

    def __str__(self) -> str:
        return f"Call back {self.pk} for debtor {self.debtor_id}"
