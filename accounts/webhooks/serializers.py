"""The objects events carry that the API has no other answer for: a payment plan, and a
debtor's contact preferences. Accounts and payments are the API's own `AccountOutput` and
`PaymentOutput`."""

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
from accounts.serializers import MONEY_HELP, AccountOutput, PaymentOutput
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


# --- The webhooks' own objects -------------------------------------------------------------


@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="EventObject",
        serializers=[AccountOutput, PaymentOutput, PlanOutput, DebtorPreferencesOutput],
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
    dispute_id = serializers.IntegerField(required=False, allow_null=True)
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
        help_text="`object`: the account, payment, plan or debtor as the API returns it; "
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
