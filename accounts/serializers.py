"""The creditor API's shapes: what each answer is made of, its errors, and the fields its query
parameters are read with. The views in `accounts.apis` nest their own `OutputSerializer` and
`FilterSerializer` built from these; drf-spectacular turns them into the OpenAPI schema
(`/api/schema/`), so the schema is the code that writes the answer.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer, inline_serializer
from rest_framework import serializers

from accounts import money
from accounts.models import AccountStatus, ActivityKind, DebtorFlag, PaymentMethod, PaymentStatus

MONEY_HELP = 'Decimal string with the currency\'s minor units, e.g. "120.50" (JPY "5000").'
MAX_PAGE_SIZE = 1000
PAGE_SIZE_ERROR = f"A whole number from 1 to {MAX_PAGE_SIZE}."
SINCE_ERROR = "Use an ISO 8601 date or date-time, e.g. 2026-01-31."

_MESSAGES = {"type": "array", "items": {"type": "string"}}


# --- Fields -----------------------------------------------------------------------------------


@extend_schema_field({"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"})
class MoneyField(serializers.Field):
    """An amount of the object's `currency`, as a decimal string with the currency's minor
    units (`money.quantize`); reads `amount` off the whole object."""

    def __init__(self, *, amount: str, **kwargs: Any) -> None:
        self.amount = amount
        kwargs.setdefault("help_text", MONEY_HELP)
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, value: Any) -> str:
        return str(money.quantize(getattr(value, self.amount), value.currency))


class CountField(serializers.IntegerField):
    """How many items a list attribute holds."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, min_value=0, **kwargs)

    def to_representation(self, value: Any) -> int:
        return len(value)


@extend_schema_field(
    {
        "anyOf": [
            {"type": "string", "format": "date-time"},
            {"type": "string", "format": "date"},
            {"type": "string", "maxLength": 0},  # blank: not given
        ]
    }
)
class SinceField(serializers.DateTimeField):
    """A `*_since` query parameter: an ISO 8601 date-time, or a date (midnight); without an
    offset, UTC. Answers in UTC. Blank means not given."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "ISO 8601 date-time, or a date (midnight); without an "
                          "offset, UTC.")  # fmt: skip
        super().__init__(
            required=False,
            default_timezone=UTC,
            error_messages={"invalid": SINCE_ERROR, "overflow": SINCE_ERROR, "date": SINCE_ERROR},
            **kwargs,
        )


def page_size_parse(raw: str) -> int:
    """`raw` as a page size from 1 to `MAX_PAGE_SIZE` (ASCII digits only: `int()` would also
    read full-width ones), or a ValidationError with `PAGE_SIZE_ERROR`."""
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_PAGE_SIZE):
        raise serializers.ValidationError(PAGE_SIZE_ERROR)
    return int(raw)


class PageSizeField(serializers.IntegerField):
    """`page_size`: how many results a page holds, 1 to 1000 (default 100)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", f"1 to {MAX_PAGE_SIZE}, default 100.")
        super().__init__(required=False, min_value=1, max_value=MAX_PAGE_SIZE, **kwargs)

    def to_internal_value(self, data: Any) -> int:
        return page_size_parse(str(data))


def cursor_field() -> serializers.CharField:
    return serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="From the previous answer's `next` or `previous` link; anything else is a 400.",
    )


@extend_schema_field(
    {
        "type": "object",
        "description": 'Field errors shaped like the row: `{"currency": ["..."], "debtor": '
        '{"phone": ["..."]}}`; `non_field_errors` for the row or debtor as a whole; an unknown '
        'key is named with `["Unknown field."]`.',
        "properties": {
            "non_field_errors": _MESSAGES,
            "debtor": {"type": "object", "additionalProperties": _MESSAGES},
        },
        "additionalProperties": _MESSAGES,
    }
)
class RowErrorsField(serializers.DictField):
    """A rejected row's field errors, as `accounts.placement.validate_row` returns them."""


# --- Errors -----------------------------------------------------------------------------------


def errors_of(name: str, *fields: str, required: bool = False) -> type[serializers.Serializer]:
    """A 400 answer naming the query parameters (or keys) at fault, each with its messages."""
    return inline_serializer(
        name,
        {
            field: serializers.ListField(child=serializers.CharField(), required=required)
            for field in fields
        },
    )


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class RateLimitedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    retry_after = serializers.IntegerField(help_text="Seconds to wait, as in `Retry-After`.")
    retry_at = serializers.DateTimeField(help_text="When to retry (UTC).")
    limit = serializers.IntegerField(help_text="Requests this key may make in the period.")
    period_seconds = serializers.IntegerField(help_text="60 for a minute, 86400 for a day.")


# --- Answers ----------------------------------------------------------------------------------


@extend_schema_serializer(component_name="DebtorSummary")
class DebtorSummaryOutput(serializers.Serializer):
    external_ref = serializers.CharField()
    region = serializers.CharField()
    timezone = serializers.CharField()
    language = serializers.CharField()
    flags = serializers.ListField(
        child=serializers.ChoiceField(choices=DebtorFlag.choices), help_text="Contact flags."
    )


@extend_schema_serializer(component_name="Account")
class AccountOutput(serializers.Serializer):
    """An account as every answer about one shows it."""

    external_ref = serializers.CharField()
    status = serializers.ChoiceField(choices=AccountStatus.choices)
    currency = serializers.CharField()
    original_amount = MoneyField(amount="original_amount")
    current_balance = MoneyField(amount="current_balance")
    due_date = serializers.DateField(allow_null=True)
    description = serializers.CharField(allow_blank=True)
    placed_at = serializers.DateTimeField()
    status_changed_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    debtor = DebtorSummaryOutput()


@extend_schema_serializer(component_name="Payment")
class PaymentOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    account = serializers.CharField(source="account.external_ref", help_text="The account's "
                                    "external_ref.")  # fmt: skip
    amount = MoneyField(amount="amount")
    currency = serializers.CharField()
    method = serializers.ChoiceField(choices=PaymentMethod.choices)
    status = serializers.ChoiceField(choices=PaymentStatus.choices)
    provider = serializers.CharField(allow_blank=True)
    provider_reference = serializers.CharField(allow_blank=True)
    received_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="TimelineEntry")
class TimelineEntryOutput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ActivityKind.choices)
    summary = serializers.CharField()
    occurred_at = serializers.DateTimeField()


class PageOutput(serializers.Serializer):
    """One page of a list, oldest first, with the links to the pages either side."""

    # Subclasses add `results`; the views serialize `accounts.apis._page(paginator, page)`.

    next = serializers.URLField(allow_null=True, help_text="The next page, or null at the end.")
    previous = serializers.URLField(allow_null=True, help_text="The page before, or null.")


@extend_schema_serializer(component_name="PlacementSummary")
class PlacementSummaryOutput(serializers.Serializer):
    received = serializers.IntegerField(read_only=True, min_value=0)
    created = CountField()
    updated = CountField()
    unchanged = CountField()
    rejected = CountField()


@extend_schema_serializer(component_name="RejectedRow")
class RejectedRowOutput(serializers.Serializer):
    index = serializers.IntegerField(help_text="The row's position (from 0) in `accounts`.")
    external_ref = serializers.CharField(allow_null=True)
    errors = RowErrorsField()


@extend_schema_serializer(component_name="PlacementResult")
class PlacementResultOutput(serializers.Serializer):
    """What a placement did (`accounts.services.PlacementResult`)."""

    summary = PlacementSummaryOutput(source="*")
    created = serializers.ListField(child=serializers.CharField())
    updated = serializers.ListField(child=serializers.CharField())
    unchanged = serializers.ListField(child=serializers.CharField())
    rejected = RejectedRowOutput(many=True)


# --- The placement request, for the schema ----------------------------------------------------
# Validation itself is `accounts.placement.validate_row` (per-row errors, and fast enough for
# 10,000 rows); these serializers describe the format it reads.


@extend_schema_serializer(component_name="PlacementDebtorDoc")
class PlacementDebtorDoc(serializers.Serializer):
    external_ref = serializers.CharField(min_length=1, max_length=100)
    first_name = serializers.CharField(required=False)
    last_name = serializers.CharField(min_length=1)
    email = serializers.EmailField(required=False)
    phone = serializers.CharField(required=False, help_text="E.164 or national format.")
    address_line1 = serializers.CharField(required=False)
    address_line2 = serializers.CharField(required=False)
    city = serializers.CharField(required=False)
    postal_code = serializers.CharField(required=False)
    region = serializers.CharField(min_length=1, help_text="ISO 3166-1 or ISO 3166-2, e.g. US-MA.")
    timezone = serializers.CharField(required=False, help_text="IANA; default from region.")
    language = serializers.CharField(required=False, help_text="ISO 639-1; default from region.")
    date_of_birth = serializers.DateField(required=False)
    flags = serializers.ListField(
        child=serializers.ChoiceField(choices=DebtorFlag.choices), required=False
    )


@extend_schema_serializer(component_name="PlacementRowDoc")
class PlacementRowDoc(serializers.Serializer):
    external_ref = serializers.CharField(min_length=1, max_length=100)
    currency = serializers.CharField(required=False, help_text="ISO 4217; default creditor's.")
    original_amount = serializers.CharField(
        min_length=1, help_text='Decimal string, e.g. "120.50".'
    )
    current_balance = serializers.CharField(required=False)
    due_date = serializers.DateField(required=False)
    description = serializers.CharField(required=False)
    debtor = PlacementDebtorDoc()


@extend_schema_serializer(component_name="PlacementRequest")
class PlacementRequestDoc(serializers.Serializer):
    accounts = serializers.ListField(child=PlacementRowDoc(), min_length=1, max_length=10_000)
