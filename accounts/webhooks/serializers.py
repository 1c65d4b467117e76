"""The objects events carry that the API has no other answer for: a payment plan, and a
debtor's contact preferences. Accounts and payments are the API's own `AccountOutput` and
`PaymentOutput`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from accounts import money
from accounts.models import (
    CHANNEL_CHOICES,
    Channel,
    DebtorFlag,
    InstallmentStatus,
    PlanFrequency,
    PlanStatus,
    opt_out_flag,
)
from accounts.serializers import MONEY_HELP


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
