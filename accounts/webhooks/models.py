"""Webhook endpoints, the events they are told about, and each event's delivery to each
endpoint with its log of attempts.

An event (`WebhookEvent`) is written in the same transaction as the change it reports
(`accounts.webhooks.events.webhook_event_record`), so it exists exactly when the change
committed; one `WebhookDelivery` per subscribed endpoint is written with it, and the delivery
task (`accounts.webhooks.delivery`) POSTs it, signed, until the endpoint answers 2xx or three
days have passed.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Creditor

API_VERSION = "v1"
ALL_EVENTS = "*"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


class EventType(models.TextChoices):
    """Every event a creditor can subscribe to (docs/webhooks.md, the catalogue)."""

    ACCOUNT_PLACED = "account.placed", _("Account placed")
    ACCOUNT_STATUS_CHANGED = "account.status_changed", _("Account status changed")
    ACCOUNT_PAID = "account.paid", _("Account paid in full")
    ACCOUNT_SETTLED = "account.settled", _("Account settled")
    ACCOUNT_RECALLED = "account.recalled", _("Account recalled")
    PAYMENT_SUCCEEDED = "payment.succeeded", _("Payment succeeded")
    PAYMENT_FAILED = "payment.failed", _("Payment failed")
    PLAN_CREATED = "plan.created", _("Plan agreed")
    PLAN_INSTALMENT_MISSED = "plan.instalment_missed", _("Plan instalment missed")
    PLAN_BROKEN = "plan.broken", _("Plan broken")
    PLAN_COMPLETED = "plan.completed", _("Plan completed")
    DISPUTE_OPENED = "dispute.opened", _("Dispute opened")
    DISPUTE_RESOLVED = "dispute.resolved", _("Dispute resolved")
    PAUSE_STARTED = "pause.started", _("Pause started")
    PAUSE_ENDED = "pause.ended", _("Pause ended")
    DEBTOR_CONTACT_PREFERENCES_CHANGED = (
        "debtor.contact_preferences_changed",
        _("Debtor's contact preferences changed"),
    )


def secret_new() -> str:
    """A signing secret: `whsec_` and 32 random bytes, URL-safe base64."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def event_id_new() -> str:
    return "evt_" + secrets.token_hex(12)


class WebhookEndpoint(models.Model):
    """A creditor's URL that is POSTed the events it subscribes to.

    The signing secret is kept as is (it signs every delivery, so it cannot be a hash); the
    API shows it once, when the endpoint is made and when it is rolled. After a roll the
    previous secret also signs deliveries until `previous_secret_expires_at` (24 hours).
    """

    creditor = models.ForeignKey(
        Creditor, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000, help_text="https only; checked against SSRF.")
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(
        default=list,
        blank=True,
        help_text='Event types sent to this URL; empty or ["*"]: every event.',
    )
    enabled = models.BooleanField(default=True)
    secret = models.CharField(max_length=100, default=secret_new, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_at = models.DateTimeField(
        null=True, blank=True, help_text="When the platform disabled it after failed deliveries."
    )
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["creditor", "created_at", "id"])]

    def __str__(self) -> str:
        return self.url

    def subscribes(self, event_type: str) -> bool:
        types = self.event_types or []
        return not types or ALL_EVENTS in types or event_type in types

    def signing_secrets(self, now=None) -> list[str]:
        """The secrets a delivery is signed with now: the current one, and the previous one
        during the 24 hours after a roll."""
        now = now or timezone.now()
        expires = self.previous_secret_expires_at
        if self.previous_secret and expires is not None and expires > now:
            return [self.secret, self.previous_secret]
        return [self.secret]


class WebhookEvent(models.Model):
    """Something that happened to a creditor's account, payment, plan or debtor, with the
    object as the API returns it. Kept `WEBHOOKS_EVENT_RETENTION_DAYS` (30) for
    `GET /api/v1/events/`."""

    id = models.CharField(primary_key=True, max_length=40, default=event_id_new, editable=False)
    creditor = models.ForeignKey(Creditor, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=64, choices=EventType.choices)
    created_at = models.DateTimeField(default=timezone.now)
    api_version = models.CharField(max_length=20, default=API_VERSION)
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["creditor", "created_at", "id"]),
            models.Index(fields=["creditor", "type", "created_at", "id"]),
            models.Index(fields=["created_at"], name="webhook_event_created"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed (gave up)")


class WebhookDelivery(models.Model):
    """One event to one endpoint: its status, attempts, when it is next due and the claim
    of the worker sending it (a lease: a killed worker's claim runs out and another worker
    takes the delivery back)."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    manual = models.BooleanField(
        default=False, help_text="A manual re-send: one attempt, never disables the endpoint."
    )
    claim = models.CharField(max_length=32, blank=True, editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_unique")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(status="pending"),
                name="webhook_delivery_due",
            ),
            models.Index(fields=["endpoint", "created_at", "id"]),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} to endpoint {self.endpoint_id}"


class WebhookAttempt(models.Model):
    """One POST of a delivery: the answer's status, how long it took, the start of its body,
    or the error that prevented an answer."""

    BODY_KEPT = 1024

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    manual = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now)
    succeeded = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The answer's first 1 KiB.")
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["delivery", "number", "id"]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"
