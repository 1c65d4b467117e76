"""The accounts domain: creditors (tenants), debtors, accounts, payments, plans, the timeline.

State changes are model methods that check allowed transitions (`accounts.transitions`) and
raise `TransitionError`; they change memory only. Services change a status with
`accounts.transitions.transition_save`, which saves and writes the timeline row with it;
writes that span models live in `accounts.services`.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone as dj_tz
from django.utils.translation import gettext_lazy as _

from accounts import money
from accounts.transitions import StateMachine

MONEY = {"max_digits": money.MAX_DIGITS, "decimal_places": money.DECIMAL_PLACES}


class DomainError(Exception):
    """A business rule refused the operation; the message is fit to show to the caller."""


class TransitionError(DomainError):
    """A status change that the state machine does not allow."""


class Creditor(models.Model):
    """A client placing debts with us: the tenant every other row belongs to."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    display_name = models.CharField(
        max_length=200, help_text="How the creditor is named in messages and on the portal."
    )
    default_currency = models.CharField(max_length=3, default="EUR")
    locale = models.CharField(max_length=16, default="en", help_text="e.g. en, en-US, fr-CA.")
    # Portal policy
    min_instalment = models.DecimalField(
        **MONEY,
        default=Decimal("10"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Smallest instalment a debtor may choose, in the account's currency.",
    )
    max_plan_months = models.PositiveSmallIntegerField(
        default=12, help_text="Longest payment plan a debtor may choose, in months."
    )
    settlement_allowed = models.BooleanField(
        default=False, help_text="Whether the portal may offer a discount for a lump sum."
    )
    max_settlement_discount_pct = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Largest settlement discount, in percent of the balance.",
    )
    max_pause_days = models.PositiveSmallIntegerField(
        default=30, help_text="Longest 'breathing space' a debtor may ask for, in days."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            # Agency staff: every creditor's data in the admins (accounts/tenancy.py). Anyone
            # else sees only the creditor a CreditorUser binds them to.
            ("view_all_creditors", "Can see every creditor's data (agency staff)"),
            # A creditor's own staff ("Creditor users" group): capped to that role's
            # permissions, whatever else they hold (accounts/roles.py).
            (
                "creditor_user_role",
                "Is a creditor user (one creditor; only the Creditor users permissions)",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        errors = {}
        if not money.currency_is_known(self.default_currency):
            errors["default_currency"] = _("Unknown ISO 4217 currency code.")
        if self.max_settlement_discount_pct is not None and self.max_settlement_discount_pct > 100:
            errors["max_settlement_discount_pct"] = _("A discount cannot exceed 100%.")
        if self.max_plan_months is not None and self.max_plan_months < 1:
            errors["max_plan_months"] = _("A plan must be allowed at least one month.")
        if errors:
            raise ValidationError(errors)


class CreditorUser(models.Model):
    """Binds an API (or staff) user to exactly one creditor; every API query is scoped by it."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="creditor_link"
    )
    creditor = models.ForeignKey(Creditor, on_delete=models.CASCADE, related_name="users")

    def __str__(self) -> str:
        return f"{self.user} @ {self.creditor}"


class Channel(models.TextChoices):
    """Every channel the platform contacts a debtor through: the one definition every app
    imports (`compliance.engine.CHANNELS` keeps the same values as plain strings, pinned by a
    test)."""

    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")
    CALL = "call", _("Phone call")
    LETTER = "letter", _("Letter")


CHANNEL_CHOICES = Channel.choices
CHANNELS: tuple[str, ...] = tuple(Channel.values)
# Channels a `messaging.Message` goes out on, in this order (the recommender's feature layout
# depends on it): calls are tasks for people, not messages.
MESSAGE_CHANNELS: tuple[str, ...] = ("email", "sms", "whatsapp", "letter")

OPT_OUT_PREFIX = "opted_out_"


def opt_out_flag(channel: str) -> str:
    """The debtor flag that records an opt-out of `channel` (`opted_out_sms`, ...)."""
    return OPT_OUT_PREFIX + str(channel)


class DebtorFlag(models.TextChoices):
    """Contact flags compliance reads. Names match the compliance cases' flag vocabulary
    (`compliance.engine.FLAGS` holds the same values, pinned by a test)."""

    OPTED_OUT_CALL = opt_out_flag(Channel.CALL), _("Opted out of calls")
    OPTED_OUT_SMS = opt_out_flag(Channel.SMS), _("Opted out of SMS")
    OPTED_OUT_EMAIL = opt_out_flag(Channel.EMAIL), _("Opted out of email")
    OPTED_OUT_LETTER = opt_out_flag(Channel.LETTER), _("Opted out of letters")
    OPTED_OUT_WHATSAPP = opt_out_flag(Channel.WHATSAPP), _("Opted out of WhatsApp")
    CEASE_COMMUNICATION = "cease_communication", _("Asked us to cease communication")
    DISPUTED = "disputed", _("Disputes the debt")
    ATTORNEY_REPRESENTED = "attorney_represented", _("Represented by an attorney")
    WORKPLACE_NUMBER = "workplace_number", _("Phone number is at the workplace")
    EMPLOYER_PROHIBITS_CONTACT = "employer_prohibits_contact", _("Employer prohibits contact")
    CELL_PHONE = "cell_phone", _("Phone is a mobile phone")
    STATUTE_BARRED = "statute_barred", _("Debt is statute-barred")
    CONSUMER_STATED_WILL_NOT_PAY_STATUTE_BARRED = (
        "consumer_stated_will_not_pay_statute_barred",
        _("Said they will not pay a statute-barred debt"),
    )
    DECEASED = "deceased", _("Deceased")
    BANKRUPTCY = "bankruptcy", _("In bankruptcy or insolvency")
    VULNERABLE = "vulnerable", _("Vulnerable: handle with care")
    CONSENT_CALL = "consent_call", _("Consented to calls")
    CONSENT_SMS = "consent_sms", _("Consented to SMS")
    CONSENT_EMAIL = "consent_email", _("Consented to email")
    CONSENT_WHATSAPP = "consent_whatsapp", _("Consented to WhatsApp")
    CONSENT_LETTER = "consent_letter", _("Consented to letters")


class Debtor(models.Model):
    """A person who owes a creditor money; contact details, region and contact flags."""

    creditor = models.ForeignKey(Creditor, on_delete=models.PROTECT, related_name="debtors")
    external_ref = models.CharField(max_length=100)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    # A plain column holding E.164: validated by `accounts.placement` and the admin form with
    # `phonenumbers`, so bulk placement does not re-parse every number on save.
    phone = models.CharField(max_length=20, blank=True, help_text="E.164, e.g. +14155550123.")
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    region = models.CharField(
        max_length=12, help_text="ISO 3166-1 country or ISO 3166-2 subdivision, e.g. US-MA."
    )
    timezone = models.CharField(max_length=64, help_text="IANA time zone, e.g. America/New_York.")
    language = models.CharField(max_length=8, default="en", help_text="ISO 639-1, e.g. fr.")
    date_of_birth = models.DateField(null=True, blank=True)
    flags = models.JSONField(default=list, blank=True, help_text="List of contact flags.")
    # The debtor's own contact preferences (set in the portal): hard constraints for the
    # planner and compliance, not hints.
    preferred_channel = models.CharField(max_length=10, choices=CHANNEL_CHOICES, blank=True)
    preferred_hours_start = models.TimeField(
        null=True, blank=True, help_text="Contact only from this local time..."
    )
    preferred_hours_end = models.TimeField(null=True, blank=True, help_text="...until this one.")
    created_at = models.DateTimeField(default=dj_tz.now)
    updated_at = models.DateTimeField(default=dj_tz.now)
    # Set when the personal data above was erased (docs/privacy.md): the row stays, with
    # placeholders, as the pseudonymous id that what the law keeps (payments, plans, the
    # compliance audit, message metadata) still points at. A placement never refills it.
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["creditor", "external_ref"], name="debtor_unique_ref_per_creditor"
            )
        ]
        indexes = [
            models.Index(fields=["creditor", "region"]),
            # The operations cockpit and the outbox narrow messages to a region: the region's
            # debtor ids straight from the index, without reading every debtor.
            models.Index(fields=["region", "id"], name="debtor_region"),
        ]

    def __str__(self) -> str:
        # Admin-facing only; logs use ids (no personal data in logs).
        return f"{self.first_name} {self.last_name} ({self.external_ref})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def has_flag(self, flag: str) -> bool:
        return flag in (self.flags or [])


class AccountStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    IN_PLAN = "in_plan", _("In a payment plan")
    PAUSED = "paused", _("Paused")
    DISPUTED = "disputed", _("Disputed")
    PAID = "paid", _("Paid in full")
    SETTLED = "settled", _("Settled")
    RECALLED = "recalled", _("Recalled by the creditor")
    CLOSED = "closed", _("Closed")


S = AccountStatus
# Allowed transitions. Paid, settled, recalled and closed are final: a recalled debt is the
# creditor's again, and a paid one must never be collected twice.
ACCOUNT_TRANSITIONS: dict[str, frozenset[str]] = {
    S.ACTIVE: frozenset({S.IN_PLAN, S.PAUSED, S.DISPUTED, S.PAID, S.SETTLED, S.RECALLED, S.CLOSED}),
    S.IN_PLAN: frozenset({S.ACTIVE, S.PAUSED, S.DISPUTED, S.PAID, S.SETTLED, S.RECALLED, S.CLOSED}),
    S.PAUSED: frozenset({S.ACTIVE, S.IN_PLAN, S.DISPUTED, S.PAID, S.SETTLED, S.RECALLED, S.CLOSED}),
    S.DISPUTED: frozenset({S.ACTIVE, S.PAID, S.SETTLED, S.RECALLED, S.CLOSED}),
    S.PAID: frozenset(),
    S.SETTLED: frozenset(),
    S.RECALLED: frozenset(),
    S.CLOSED: frozenset(),
}
OPEN_STATUSES = frozenset({S.ACTIVE, S.IN_PLAN, S.PAUSED, S.DISPUTED})
ACCOUNT_MACHINE = StateMachine(
    edges=ACCOUNT_TRANSITIONS,
    choices=AccountStatus,
    error=TransitionError,
    refused="An account that is {old} cannot become {new}.",
    unknown="Unknown account status {new!r}.",
)


class Account(models.Model):
    """One debt: what a debtor owes one creditor, with its balance and collection status."""

    creditor = models.ForeignKey(Creditor, on_delete=models.PROTECT, related_name="accounts")
    debtor = models.ForeignKey(Debtor, on_delete=models.PROTECT, related_name="accounts")
    external_ref = models.CharField(max_length=100)
    description = models.CharField(
        max_length=300, blank=True, help_text="What is owed and why, shown to the debtor."
    )
    currency = models.CharField(max_length=3)
    original_amount = models.DecimalField(**MONEY)
    current_balance = models.DecimalField(**MONEY)
    due_date = models.DateField(null=True, blank=True)
    placed_at = models.DateTimeField(default=dj_tz.now)
    status = models.CharField(max_length=12, choices=AccountStatus.choices, default=S.ACTIVE)
    status_changed_at = models.DateTimeField(default=dj_tz.now)
    paused_until = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(default=dj_tz.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["creditor", "external_ref"], name="account_unique_ref_per_creditor"
            ),
            models.CheckConstraint(
                condition=models.Q(current_balance__gte=0), name="account_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(original_amount__gt=0), name="account_original_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["creditor", "status"]),
            models.Index(fields=["creditor", "updated_at", "id"]),
            # The cockpit's placement rollup rebuilds one UTC day of placements at a time.
            models.Index(fields=["placed_at"], name="account_placed_at"),
            # The hourly end of breathing spaces looks up the paused accounts whose end passed.
            models.Index(
                fields=["paused_until"],
                condition=models.Q(status="paused"),
                name="account_paused_until",
            ),
        ]
        permissions = [
            # `accounts.services.account_recall`, the API's recall: creditor users hold it,
            # agency staff recall with it or with `change_account`.
            ("recall_account", "Can recall an account (the creditor takes it back)"),
        ]

    def __str__(self) -> str:
        return self.external_ref

    @property
    def balance(self) -> Decimal:
        """The current balance quantized to the currency's minor units."""
        return money.quantize(self.current_balance, self.currency)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    # What `transition` changes, saved by `accounts.transitions.transition_save`.
    STATE_FIELDS = ("status", "status_changed_at", "updated_at")

    def can_transition(self, new_status: str) -> bool:
        return ACCOUNT_MACHINE.allows(self.status, new_status)

    def transition(self, new_status: str) -> str:
        """Move to `new_status` in memory, or raise `TransitionError`; returns the old status.

        Services call it through `transition_save` (in `accounts.services`), which saves the
        row and writes the timeline entry in the same transaction.
        """
        ACCOUNT_MACHINE.check(self.status, new_status)
        old = self.status
        self.status = new_status
        now = dj_tz.now()
        self.status_changed_at = now
        self.updated_at = now
        return old


class PaymentMethod(models.TextChoices):
    CARD = "card", _("Card")
    BANK_TRANSFER = "bank_transfer", _("Bank transfer")
    DIRECT_DEBIT = "direct_debit", _("Direct debit")
    WALLET = "wallet", _("Wallet")
    CASH = "cash", _("Cash")
    CHEQUE = "cheque", _("Cheque")
    OTHER = "other", _("Other")


class PaymentStatus(models.TextChoices):
    SUCCEEDED = "succeeded", _("Succeeded")
    REFUNDED = "refunded", _("Refunded")


class Payment(models.Model):
    """Money received against an account. Recorded once per idempotency key per creditor."""

    creditor = models.ForeignKey(Creditor, on_delete=models.PROTECT, related_name="payments")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="payments")
    idempotency_key = models.CharField(max_length=200)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    method = models.CharField(max_length=16, choices=PaymentMethod.choices)
    provider = models.CharField(max_length=50, blank=True, help_text="e.g. sandbox, stripe.")
    provider_reference = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=12, choices=PaymentStatus.choices, default=PaymentStatus.SUCCEEDED
    )
    received_at = models.DateTimeField(default=dj_tz.now)
    created_at = models.DateTimeField(default=dj_tz.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["creditor", "idempotency_key"], name="payment_unique_idempotency_key"
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payment_positive"),
        ]
        indexes = [
            models.Index(fields=["creditor", "received_at", "id"]),
            # The cockpit's payments rollup rebuilds one UTC day received at a time, across
            # creditors.
            models.Index(fields=["received_at"], name="payment_received_at"),
        ]
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        amount = self.amount
        if money.currency_is_known(self.currency) and amount is not None:
            amount = money.quantize(amount, self.currency)
        return f"{amount} {self.currency} on {self.account_id}"


class PlanFrequency(models.TextChoices):
    WEEKLY = "weekly", _("Weekly")
    FORTNIGHTLY = "fortnightly", _("Every two weeks")
    MONTHLY = "monthly", _("Monthly")


class PlanStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    COMPLETED = "completed", _("Completed")
    BROKEN = "broken", _("Broken")
    CANCELLED = "cancelled", _("Cancelled")


class PaymentPlan(models.Model):
    """An agreed schedule of instalments that pays off an account's balance."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="plans")
    frequency = models.CharField(max_length=12, choices=PlanFrequency.choices)
    total_amount = models.DecimalField(**MONEY)
    instalment_count = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=12, choices=PlanStatus.choices, default=PlanStatus.ACTIVE)
    created_at = models.DateTimeField(default=dj_tz.now)

    class Meta:
        constraints = [
            # At most one active plan per account.
            models.UniqueConstraint(
                fields=["account"],
                condition=models.Q(status="active"),
                name="plan_one_active_per_account",
            )
        ]

    def __str__(self) -> str:
        return f"Plan {self.pk} for {self.account_id}"


class InstallmentStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    PARTIAL = "partial", _("Partly paid")
    PAID = "paid", _("Paid")
    MISSED = "missed", _("Missed")
    CANCELLED = "cancelled", _("Cancelled")


# Instalments still owed (in full or in part): what payments are allocated to, in order.
OPEN_INSTALLMENT_STATUSES = (
    InstallmentStatus.PENDING,
    InstallmentStatus.PARTIAL,
    InstallmentStatus.MISSED,
)


class Installment(models.Model):
    """One scheduled amount of a payment plan and the payment that settled it."""

    plan = models.ForeignKey(PaymentPlan, on_delete=models.CASCADE, related_name="installments")
    sequence = models.PositiveSmallIntegerField()
    due_date = models.DateField()
    amount = models.DecimalField(**MONEY)
    amount_paid = models.DecimalField(**MONEY, default=Decimal("0"))
    status = models.CharField(
        max_length=12, choices=InstallmentStatus.choices, default=InstallmentStatus.PENDING
    )
    payment = models.ForeignKey(
        Payment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="installments",
        help_text="The payment that completed this instalment.",
    )
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["plan", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "sequence"], name="installment_unique_seq")
        ]
        # The cockpit's plan-adherence rollup rebuilds the instalments due on one day at a time.
        indexes = [models.Index(fields=["due_date"], name="installment_due_date")]

    def __str__(self) -> str:
        return f"#{self.sequence} of plan {self.plan_id}"

    @property
    def amount_due(self) -> Decimal:
        return self.amount - self.amount_paid


class ActivityKind(models.TextChoices):
    PLACED = "placed", _("Placed")
    UPDATED = "updated", _("Details updated by the creditor")
    STATUS_CHANGED = "status_changed", _("Status changed")
    RECALLED = "recalled", _("Recalled")
    MESSAGE_PLANNED = "message_planned", _("Message planned")
    MESSAGE_SENT = "message_sent", _("Message sent")
    MESSAGE_DELIVERED = "message_delivered", _("Message delivered")
    MESSAGE_OPENED = "message_opened", _("Message opened")
    MESSAGE_CLICKED = "message_clicked", _("Message clicked")
    MESSAGE_BOUNCED = "message_bounced", _("Message bounced")
    MESSAGE_FAILED = "message_failed", _("Message failed")
    MESSAGE_REPLIED = "message_replied", _("Debtor replied")
    MESSAGE_CONVERTED = "message_converted", _("Message led to a payment or plan")
    MESSAGE_RESCHEDULED = "message_rescheduled", _("Message rescheduled by compliance")
    MESSAGE_CANCELLED = "message_cancelled", _("Message cancelled")
    MESSAGE_BLOCKED = "message_blocked", _("Message blocked")
    CONTACT_RECORDED = "contact_recorded", _("Contact logged")
    CONTACT_BLOCKED = "contact_blocked", _("Contact blocked by compliance")
    OPTED_OUT = "opted_out", _("Opted out of a channel")
    PAYMENT = "payment", _("Payment received")
    PLAN_CREATED = "plan_created", _("Payment plan agreed")
    PLAN_CHANGED = "plan_changed", _("Payment plan changed")
    PAUSE = "pause", _("Collection paused")
    DISPUTE = "dispute", _("Dispute raised")
    PREFERENCE_CHANGE = "preference_change", _("Contact preferences changed")
    CALLBACK_REQUESTED = "callback_requested", _("Call back requested")
    PORTAL = "portal", _("Portal activity")
    ADMIN_CHANGE = "admin_change", _("Changed by an operator")
    DATA_EXPORTED = "data_exported", _("Personal data exported (subject access)")
    DATA_ERASED = "data_erased", _("Personal data erased")


class Activity(models.Model):
    """One append-only timeline of everything that happened to a debtor.

    Written by services in the same transaction as the change it records. `data` holds ids and
    codes, never free-form personal data.
    """

    creditor = models.ForeignKey(Creditor, on_delete=models.PROTECT, related_name="+")
    debtor = models.ForeignKey(Debtor, on_delete=models.PROTECT, related_name="activities")
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="activities"
    )
    kind = models.CharField(max_length=32, choices=ActivityKind.choices)
    summary = models.CharField(max_length=300)
    data = models.JSONField(default=dict, blank=True)
    actor = models.CharField(
        max_length=100, help_text="Who did it: api:<user id>, admin:<user id>, debtor, system."
    )
    occurred_at = models.DateTimeField(default=dj_tz.now, db_index=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["debtor", "-occurred_at"])]
        verbose_name_plural = "activities"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.occurred_at:%Y-%m-%d %H:%M})"

    def save(self, *args, **kwargs) -> None:
        # The timeline is evidence: a row once written is never rewritten.
        if self.pk is not None and not kwargs.get("force_insert"):
            raise DomainError("Timeline entries are append-only.")
        super().save(*args, **kwargs)


class DebtorDataAccess(models.Model):
    """A staff user opened a back-office page that shows a debtor's personal data.

    One insert per page view (`accounts.services.debtor_data_access_record`): who, when,
    which debtor and which page (its path), never the data the page showed. Read by agency
    staff only (collections_site/privacy/admin.py). Kept when the debtor is erased: it says
    who looked, not who the debtor was.
    """

    at = models.DateTimeField(default=dj_tz.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    creditor = models.ForeignKey(Creditor, on_delete=models.PROTECT, related_name="+")
    debtor = models.ForeignKey(Debtor, on_delete=models.PROTECT, related_name="+")
    page = models.CharField(max_length=200, help_text="The path of the page that was opened.")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["debtor", "-at"])]
        verbose_name = "staff access to debtor data"
        verbose_name_plural = "staff access to debtor data"

    def __str__(self) -> str:
        return f"user {self.user_id} opened debtor {self.debtor_id} ({self.at:%Y-%m-%d %H:%M})"
