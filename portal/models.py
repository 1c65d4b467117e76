"""The portal's own rows: lockouts, link requests, checkouts, settlement offers, pauses,
disputes and call-back requests.

Everything that changes a debt (balance, status, plan) still goes through `accounts`; these
rows record what the debtor asked for and what the payment provider said. Written only by
`portal.services`.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import MONEY, Account, Debtor, Payment


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
    RESOLVED = "resolved", _("Resolved")


class PortalDispute(models.Model):
    """A dispute the debtor raised; collection contact stops until an operator resolves it."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=10, choices=DisputeReason.choices)
    details = models.TextField(blank=True)
    # Stored under a random name: the debtor's own file name may carry personal data.
    document = models.FileField(upload_to="portal/disputes/%Y/%m/", blank=True)
    document_type = models.CharField(max_length=40, blank=True)
    document_size = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=DisputeStatus.choices, default=DisputeStatus.OPEN
    )
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "dispute"

    def __str__(self) -> str:
        return f"Dispute {self.pk} on {self.account_id}"


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

    class Meta:
        ordering = ["status", "window_start"]
        verbose_name = "call-back request"

    def __str__(self) -> str:
        return f"Call back {self.pk} for debtor {self.debtor_id}"
