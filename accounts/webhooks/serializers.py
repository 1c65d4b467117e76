"""The objects events carry that the API has no other answer for: a payment plan, a debtor's
contact preferences, a failed payment attempt and a dispute. Accounts and payments are the
API's own `AccountOutput` and `PaymentOutput`.

`PaymentAttemptOutput` and `DisputeOutput` read the portal's `Checkout` and `PortalDispute` by
attribute (this app sits below the portal and imports none of it); the portal records their
events (`accounts.webhooks.events.payment_attempt_failed`, `dispute_event`)."""

from __future__ import annotations

from typing import Any, Literal

from drf_spectacular.utils import (
    PolymorphicProxySerializer,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers

from accounts import money
from accounts.models import (
    CHANNEL_CHOICES,
    AccountStatus,
    Channel,
    DebtorFlag,
    InstallmentStatus,
    PlanFrequency,
    PlanStatus,
    opt_out_flag,
)
from accounts.serializers import MONEY_HELP, AccountOutput, MoneyField, PaymentOutput
from accounts.webhooks.models import DeliveryStatus, EventType


@extend_schema_field({"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"})
class PlanMoneyField(serializers.Field):
    """An amount of the plan's account's currency, as a decimal string (`money.quantize`)."""

    def __init__(self, *, amount: str, currency: str, **kwargs: Any) -> None:
        self.amount, self.currency = amount, currency
        kwargs.setdefault("help_text", MONEY_HELP)
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, value: Any) -> str:
        currency = value
        for part in self.currency.split("."):
            currency = getattr(currency, part)
        return str(money.quantize(getattr(value, self.amount), currency))


@extend_schema_serializer(component_name="PlanInstalment")
class InstalmentOutput(serializers.Serializer):
    sequence = serializers.IntegerField()
    due_date = serializers.DateField()
    amount = PlanMoneyField(amount="amount", currency="plan.account.currency")
    amount_paid = PlanMoneyField(amount="amount_paid", currency="plan.account.currency")
    status = serializers.ChoiceField(choices=InstallmentStatus.choices)


@extend_schema_serializer(component_name="Plan")
class PlanOutput(serializers.Serializer):
    """A payment plan with its instalments."""

    id = serializers.IntegerField(source="pk")
    account = serializers.CharField(source="account.external_ref")
    status = serializers.ChoiceField(choices=PlanStatus.choices)
    frequency = serializers.ChoiceField(choices=PlanFrequency.choices)
    currency = serializers.CharField(source="account.currency")
    total_amount = PlanMoneyField(amount="total_amount", currency="account.currency")
    instalment_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    instalments = InstalmentOutput(many=True, source="installments.all")


@extend_schema_serializer(component_name="DebtorPreferences")
class DebtorPreferencesOutput(serializers.Serializer):
    """A debtor's contact preferences: channels opted out of, the preferred channel and
    hours (the debtor's local time)."""

    external_ref = serializers.CharField()
    flags = serializers.ListField(child=serializers.ChoiceField(choices=DebtorFlag.choices))
    opted_out = serializers.SerializerMethodField()
    preferred_channel = serializers.ChoiceField(choices=CHANNEL_CHOICES, allow_blank=True)
    preferred_hours_start = serializers.TimeField(allow_null=True)
    preferred_hours_end = serializers.TimeField(allow_null=True)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_opted_out(self, debtor) -> list[str]:
        flags = set(debtor.flags or [])
        return [channel for channel in Channel.values if opt_out_flag(channel) in flags]


@extend_schema_serializer(component_name="PaymentAttempt")
class PaymentAttemptOutput(serializers.Serializer):
    """A card payment the debtor tried in the portal that did not go through (no `Payment` was
    recorded). Carries no card data, and the failure only as a category: the issuer's detail
    (insufficient funds, a card reported lost or stolen, suspected fraud) is the debtor's own
    financial data and stays with the platform."""

    id = serializers.CharField(source="pk", help_text="The attempt's id (a UUID).")
    account = serializers.CharField(
        source="account.external_ref", help_text="The account's external_ref."
    )
    status = serializers.CharField(help_text="`failed`.")
    amount = MoneyField(amount="amount")
    currency = serializers.CharField()
    purpose = serializers.CharField(
        help_text="What the debtor meant to pay: `full`, `part`, `instalment` or `settlement`."
    )
    method = serializers.SerializerMethodField()
    provider = serializers.CharField(source="gateway", help_text="`stripe` or `sandbox`.")
    provider_reference = serializers.CharField(source="provider_ref", allow_blank=True)
    failure_code = serializers.CharField(
        source="failure_category",
        help_text="`card_declined`, `card_invalid`, `authentication_failed`, `abandoned`, "
        "`provider_error` or `not_applied` (money taken but not applied: it is refunded).",
    )
    failure_reason = serializers.CharField(help_text="The failure code in words (English).")
    created_at = serializers.DateTimeField(help_text="When the debtor submitted the payment.")
    failed_at = serializers.DateTimeField(source="updated_at")

    def get_method(self, attempt) -> Literal["card"]:
        return "card"


@extend_schema_serializer(component_name="Dispute")
class DisputeOutput(serializers.Serializer):
    """A dispute the debtor raised in the portal, and how it was resolved. What the debtor
    wrote, the document, the operators' note and who worked it are not included: free text
    may hold personal data (health, family, third parties), and the operators are the
    platform's staff."""

    id = serializers.IntegerField(source="pk")
    account = serializers.CharField(
        source="account.external_ref", help_text="The account's external_ref."
    )
    status = serializers.CharField(
        help_text="`open`, `awaiting_evidence` (the creditor's evidence is asked for), "
        "`upheld` (resolved for the debtor: the debt is withdrawn and the account closed) or "
        "`debt_stands` (the account is active again)."
    )
    reason = serializers.CharField(
        help_text="The debtor's reason: `not_mine`, `paid` (already paid), `amount` (the "
        "amount is wrong) or `other`."
    )
    opened_at = serializers.DateTimeField(source="created_at")
    respond_by = serializers.DateTimeField(
        source="due_at",
        allow_null=True,
        help_text="When the answer is due (the region's response period).",
    )
    resolved_at = serializers.DateTimeField(allow_null=True)


# --- The webhooks' own objects -------------------------------------------------------------


@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="EventObject",
        serializers=[
            AccountOutput,
            PaymentOutput,
            PaymentAttemptOutput,
            PlanOutput,
            DisputeOutput,
            DebtorPreferencesOutput,
        ],
        resource_type_field_name=None,
    )
)
class EventObjectField(serializers.DictField):
    """The object an event is about (documentation of what `data.object` holds)."""


@extend_schema_serializer(component_name="EventData")
class EventDataDoc(serializers.Serializer):
    """What an event's `data` holds, for the schema; the keys beside `object` come with some
    types only."""

    object = EventObjectField()
    previous_status = serializers.ChoiceField(choices=AccountStatus.choices, required=False)
    paused_until = serializers.DateField(required=False)
    days = serializers.IntegerField(required=False)
    dispute_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="`account.status_changed` of a dispute opened or resolved.",
    )
    plan_id = serializers.IntegerField(required=False)


@extend_schema_field(EventDataDoc)
class EventDataField(serializers.DictField):
    """An event's `data`, stored as it was serialized when the event was recorded."""


@extend_schema_serializer(component_name="Event")
class EventOutput(serializers.Serializer):
    """An event, as `GET /api/v1/events/` lists it and as a delivery POSTs it."""

    id = serializers.CharField(help_text="Unique: `evt_` and 24 hex digits.")
    object = serializers.SerializerMethodField()
    type = serializers.ChoiceField(choices=EventType.choices)
    created = serializers.DateTimeField(source="created_at")
    api_version = serializers.CharField()
    data = EventDataField(
        help_text="`object`: the account, payment, payment attempt, plan, dispute or debtor; "
        "some types add keys beside it (docs/webhooks.md)."
    )

    def get_object(self, event) -> Literal["event"]:
        return "event"


@extend_schema_serializer(component_name="WebhookEndpoint")
class EndpointOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    url = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        help_text="The subscribed types; empty: every event.",
    )
    enabled = serializers.BooleanField()
    disabled_at = serializers.DateTimeField(
        allow_null=True, help_text="When the platform disabled it after 3 days of failures."
    )
    disabled_reason = serializers.CharField(allow_blank=True)
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="After a roll: until when the old secret also signs."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="WebhookEndpointWithSecret")
class EndpointSecretOutput(EndpointOutput):
    """The endpoint with its signing secret: only in the answer that made or rolled it."""

    secret = serializers.CharField(help_text="`whsec_...`; shown once, keep it safe.")


@extend_schema_serializer(component_name="WebhookAttempt")
class AttemptOutput(serializers.Serializer):
    number = serializers.IntegerField(min_value=1)
    manual = serializers.BooleanField(help_text="A manual re-send.")
    started_at = serializers.DateTimeField()
    succeeded = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True, help_text="Null: no answer.")
    latency_ms = serializers.IntegerField(allow_null=True)
    response_body = serializers.CharField(allow_blank=True, help_text="The first 1 KiB.")
    error = serializers.CharField(allow_blank=True)


@extend_schema_serializer(component_name="WebhookDelivery")
class DeliveryOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    event = serializers.CharField(source="event_id")
    event_type = serializers.ChoiceField(source="event.type", choices=EventType.choices)
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    attempts = serializers.IntegerField(min_value=0)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    attempt_log = AttemptOutput(many=True, source="attempt_log.all")
