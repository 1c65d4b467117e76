"""The creditor REST API (`/api/v1/`): placements, accounts, recalls, payments.

Every view reads the creditor from the authenticated API user and scopes every query by it:
another creditor's account answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from accounts import money, selectors, services
from accounts.models import (
    Account,
    AccountStatus,
    ActivityKind,
    Creditor,
    DebtorFlag,
    DomainError,
    PaymentMethod,
    PaymentStatus,
    TransitionError,
)
from accounts.throttling import RateLimited


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus domain errors: forbidden transitions 409, other refusals 400; and a
    rate limit's 429 says in its body, as in its `Retry-After` header, when to retry."""
    if isinstance(exc, RateLimited):
        response = exception_handler(exc, context)
        if response is not None:
            response.data = exc.body()
        return response
    if isinstance(exc, TransitionError):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DomainError):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    return exception_handler(exc, context)


def _creditor(request: Request) -> Creditor:
    return request.creditor  # set by IsCreditorUser


def _money(amount, currency: str) -> str:
    return str(money.quantize(amount, currency))


def _datetime(value: str) -> datetime | None:
    """An ISO 8601 date or date-time in UTC (naive values are read as UTC), or None."""
    try:
        parsed = parse_datetime(value)
        if parsed is None:
            day = parse_date(value)
            parsed = datetime.combine(day, time.min) if day else None
        if parsed is not None and timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=UTC)
        # In UTC, a date-time near year 1 or 9999 may fall outside Python's range.
        return parsed.astimezone(UTC) if parsed is not None else None
    except (ValueError, OverflowError):
        return None


def _parse_since(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 date or datetime query parameter; naive values are read as UTC."""
    if not value:
        return None
    parsed = _datetime(value)
    if parsed is None:
        raise ValidationError({name: ["Use an ISO 8601 date or date-time, e.g. 2026-01-31."]})
    return parsed


# A position as DRF writes it (`str` of an aware date-time); Python's own ISO parser would
# also read "1111111111111" or a NUL as the date/time separator.
_POSITION = re.compile(
    r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:[+-]\d\d:\d\d|Z)?\Z", re.ASCII
)


class _Cursor(CursorPagination):
    """Cursor pagination on a date-time field, then the id.

    A cursor is base64 of `o=<offset>&r=<reverse>&p=<position>`: a client can send anything.
    DRF answers an undecodable one 404 and passes any position to the database (a 500 when it
    is not a date-time); here both are a 400 `{"cursor": ["Invalid cursor."]}`.
    """

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = ("updated_at", "id")
    invalid_cursor_message = "Invalid cursor."

    def get_page_size(self, request: Request) -> int:
        """`page_size` from 1 to `max_page_size`; anything else is a 400 naming it (DRF would
        quietly fall back to the default and hide the client's mistake)."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
            raise ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def decode_cursor(self, request: Request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound as exc:
            raise ValidationError({"cursor": [self.invalid_cursor_message]}) from exc
        if cursor is None or cursor.position is None:
            return cursor
        position = _datetime(cursor.position) if _POSITION.match(cursor.position) else None
        if position is None:
            raise ValidationError({"cursor": [self.invalid_cursor_message]})
        # As DRF writes positions (`str` of the field's value), so page links compare equal.
        return cursor._replace(position=str(position))


class _PaymentCursor(_Cursor):
    ordering = ("received_at", "id")


# --- What the API answers, for the OpenAPI schema ---------------------------------------------
# The views build their answers as plain dicts (`_account_out`, `_payment_out`, ...: cheaper than
# serializers for 1,000 accounts a page); these serializers only document them, and
# accounts/tests/test_api_schema.py checks every answer against them.


def _errors_of(name: str, *fields: str, required: bool = False) -> type[serializers.Serializer]:
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


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


class RateLimitedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    retry_after = serializers.IntegerField(help_text="Seconds to wait, as in `Retry-After`.")
    retry_at = serializers.DateTimeField(help_text="When to retry (UTC).")
    limit = serializers.IntegerField(help_text="Requests this key may make in the period.")
    period_seconds = serializers.IntegerField(help_text="60 for a minute, 86400 for a day.")


# Every operation answers these (DEFAULT_AUTHENTICATION_CLASSES, IsCreditorUser, the throttle).
_AUTH_ERRORS = {
    401: _error("No API key, or one that is wrong, expired or revoked (the detail says which)."),
    403: _error("The key's user belongs to no creditor."),
    429: OpenApiResponse(
        RateLimitedSerializer,
        description="Too many requests with this API key in the current minute or day "
        "(docs/api.md, Rate limits); retry after `Retry-After` seconds.",
    ),
}
_RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    {"type": "integer", "minimum": 1},
    OpenApiParameter.HEADER,
    response=[429],
    description="Seconds until this key may make requests again.",
)
_NOT_FOUND = {404: _error("No such account for this creditor (another creditor's looks the same).")}
_SINCE_HELP = "ISO 8601 date-time, or a date (midnight); without an offset, UTC."
_SINCE = {
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "format": "date"},
        {"type": "string", "maxLength": 0},  # blank: not given
    ]
}
_CURSOR_HELP = "From the previous answer's `next` or `previous` link; anything else is a 400."
_EXTERNAL_REF = OpenApiParameter(
    "external_ref",
    {"type": "string", "minLength": 1, "maxLength": 100},
    OpenApiParameter.PATH,
    description="The account's reference, URL-encoded: `INV/2026/001` is `INV%2F2026%2F001`.",
)
_MONEY_HELP = 'Decimal string with the currency\'s minor units, e.g. "120.50" (JPY "5000").'


class DebtorSummarySerializer(serializers.Serializer):
    external_ref = serializers.CharField()
    region = serializers.CharField()
    timezone = serializers.CharField()
    language = serializers.CharField()
    flags = serializers.ListField(child=serializers.CharField(), help_text="Contact flags.")


class AccountSerializer(serializers.Serializer):
    external_ref = serializers.CharField()
    status = serializers.ChoiceField(choices=AccountStatus.choices)
    currency = serializers.CharField()
    original_amount = serializers.CharField(help_text=_MONEY_HELP)
    current_balance = serializers.CharField(help_text=_MONEY_HELP)
    due_date = serializers.DateField(allow_null=True)
    description = serializers.CharField(allow_blank=True)
    placed_at = serializers.DateTimeField()
    status_changed_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    debtor = DebtorSummarySerializer()


class PaymentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.CharField(help_text="The account's external_ref.")
    amount = serializers.CharField(help_text=_MONEY_HELP)
    currency = serializers.CharField()
    method = serializers.ChoiceField(choices=PaymentMethod.choices)
    status = serializers.ChoiceField(choices=PaymentStatus.choices)
    provider = serializers.CharField(allow_blank=True)
    provider_reference = serializers.CharField(allow_blank=True)
    received_at = serializers.DateTimeField()


class TimelineEntrySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ActivityKind.choices)
    summary = serializers.CharField()
    occurred_at = serializers.DateTimeField()


class AccountDetailSerializer(AccountSerializer):
    payments = PaymentSerializer(many=True)
    timeline = TimelineEntrySerializer(many=True, help_text="The latest 50 entries, newest first.")


class AccountPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = AccountSerializer(many=True)


class PaymentPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = PaymentSerializer(many=True)


class PlacementSummarySerializer(serializers.Serializer):
    received = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    rejected = serializers.IntegerField()


class RejectedRowSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The row's position (from 0) in `accounts`.")
    external_ref = serializers.CharField(allow_null=True)
    errors = serializers.DictField(
        help_text='Field errors shaped like the row: `{"currency": ["..."], "debtor": '
        '{"phone": ["..."]}}`; `non_field_errors` for the row or debtor as a whole.'
    )


class PlacementResultSerializer(serializers.Serializer):
    summary = PlacementSummarySerializer()
    created = serializers.ListField(child=serializers.CharField())
    updated = serializers.ListField(child=serializers.CharField())
    unchanged = serializers.ListField(child=serializers.CharField())
    rejected = RejectedRowSerializer(many=True)


# --- Placements -------------------------------------------------------------------------------


# Serializers below document the placement format in the OpenAPI schema; validation itself is
# `accounts.placement.validate_row` (per-row errors, and fast enough for 10,000 rows).


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


class PlacementCreateApi(APIView):
    """Place up to 10,000 accounts (each with its debtor); idempotent by external_ref.

    Answers 200 with what was created, updated, left unchanged and rejected (with each
    rejected row's index and field errors). Valid rows are saved even when others are
    rejected. Answers 400 when the body is malformed, has too many rows, or every row was
    rejected (then nothing was saved).
    """

    parser_classes = [JSONParser]

    throttle_scope = "placements"  # counted apart from the other endpoints (accounts/throttling)

    @extend_schema(
        parameters=[_RETRY_AFTER],
        request=inline_serializer(
            "PlacementRequest",
            {
                "accounts": serializers.ListField(
                    child=PlacementRowDoc(), min_length=1, max_length=10_000
                )
            },
        ),
        responses={
            200: PlacementResultSerializer,
            400: OpenApiResponse(
                PolymorphicProxySerializer(
                    "PlacementRefused",
                    [
                        PlacementResultSerializer,
                        _errors_of("PlacementBodyError", "accounts", required=True),
                        ErrorSerializer,
                    ],
                    resource_type_field_name=None,
                ),
                description="Every row rejected (the result, nothing saved); a body that is "
                'not {"accounts": [...]}, empty or too long; JSON that cannot be parsed.',
            ),
            **_AUTH_ERRORS,
            415: _error("The body is not JSON (Content-Type: application/json)."),
        },
        description=__doc__,
    )
    def post(self, request: Request) -> Response:
        data = request.data
        if not isinstance(data, dict) or not isinstance(data.get("accounts"), list):
            raise ValidationError(
                {"accounts": ['Send a JSON object {"accounts": [ ... ]} with a list of rows.']}
            )
        rows = data["accounts"]
        if not rows:
            raise ValidationError({"accounts": ["The list of accounts is empty."]})
        try:
            result = services.placement_upsert(
                creditor=_creditor(request),
                rows=rows,
                actor=f"api:{request.user.pk}",
                max_rows=settings.PLACEMENT_MAX_ROWS,
            )
        except services.PlacementTooLarge as exc:
            raise ValidationError({"accounts": [str(exc)]}) from exc
        body = result.as_dict()
        saved = result.created or result.updated or result.unchanged
        return Response(body, status=status.HTTP_200_OK if saved else status.HTTP_400_BAD_REQUEST)


# --- Accounts ---------------------------------------------------------------------------------


def _account_out(account: Account) -> dict[str, Any]:
    debtor = account.debtor
    return {
        "external_ref": account.external_ref,
        "status": account.status,
        "currency": account.currency,
        "original_amount": _money(account.original_amount, account.currency),
        "current_balance": _money(account.current_balance, account.currency),
        "due_date": account.due_date,
        "description": account.description,
        "placed_at": account.placed_at,
        "status_changed_at": account.status_changed_at,
        "updated_at": account.updated_at,
        "debtor": {
            "external_ref": debtor.external_ref,
            "region": debtor.region,
            "timezone": debtor.timezone,
            "language": debtor.language,
            "flags": debtor.flags,
        },
    }


class AccountListApi(APIView):
    """The creditor's accounts, oldest change first (cursor pagination, for syncing)."""

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=AccountStatus.choices, required=False)
        region = serializers.CharField(required=False, max_length=12)
        updated_since = serializers.CharField(required=False)

    @extend_schema(
        parameters=[
            _RETRY_AFTER,
            OpenApiParameter("status", enum=AccountStatus.values),
            OpenApiParameter(
                "region",
                {"type": "string", "maxLength": 12},
                description="Exact code, or a country for all its parts.",
            ),
            OpenApiParameter("updated_since", _SINCE, description=_SINCE_HELP),
            OpenApiParameter("cursor", description=_CURSOR_HELP),
            OpenApiParameter("page_size", int, description="Up to 1000, default 100."),
        ],
        responses={
            200: AccountPageSerializer,
            400: _errors_of(
                "AccountListError", "status", "region", "updated_since", "cursor", "page_size"
            ),
            **_AUTH_ERRORS,
        },
        operation_id="accounts_list",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        qs = selectors.accounts_list(
            creditor=_creditor(request),
            status=params.get("status"),
            region=(params.get("region") or "").upper() or None,
            updated_since=_parse_since(params.get("updated_since"), "updated_since"),
        )
        paginator = _Cursor()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response([_account_out(a) for a in page])


class AccountDetailApi(APIView):
    """One account with its payments and a summary of its timeline."""

    @extend_schema(
        parameters=[_EXTERNAL_REF, _RETRY_AFTER],
        responses={200: AccountDetailSerializer, **_AUTH_ERRORS, **_NOT_FOUND},
        operation_id="accounts_retrieve",
    )
    def get(self, request: Request, external_ref: str) -> Response:
        account = selectors.account_get(creditor=_creditor(request), external_ref=external_ref)
        if account is None:
            raise NotFound("No such account.")
        body = _account_out(account)
        body["payments"] = [_payment_out(p, account) for p in account.payments.all()]
        body["timeline"] = [
            {"kind": a.kind, "summary": a.summary, "occurred_at": a.occurred_at}
            for a in selectors.account_timeline(account=account)
        ]
        return Response(body)


class AccountRecallApi(APIView):
    """The creditor takes an account back; collection stops. 409 if it is already final."""

    @extend_schema(
        request=None,
        parameters=[_EXTERNAL_REF, _RETRY_AFTER],
        responses={
            200: AccountSerializer,
            **_AUTH_ERRORS,
            **_NOT_FOUND,
            409: _error("The account is already paid, settled, recalled or closed."),
        },
    )
    def post(self, request: Request, external_ref: str) -> Response:
        account = selectors.account_get(creditor=_creditor(request), external_ref=external_ref)
        if account is None:
            raise NotFound("No such account.")
        account = services.account_recall(account=account, actor=f"api:{request.user.pk}")
        return Response(_account_out(account))


# --- Payments ---------------------------------------------------------------------------------


def _payment_out(payment, account: Account | None = None) -> dict[str, Any]:
    account = account or payment.account
    return {
        "id": payment.pk,
        "account": account.external_ref,
        "amount": _money(payment.amount, payment.currency),
        "currency": payment.currency,
        "method": payment.method,
        "status": payment.status,
        "provider": payment.provider,
        "provider_reference": payment.provider_reference,
        "received_at": payment.received_at,
    }


class PaymentListApi(APIView):
    """Payments received on the creditor's accounts, oldest first (cursor pagination)."""

    class FilterSerializer(serializers.Serializer):
        account = serializers.CharField(required=False, max_length=100)
        received_since = serializers.CharField(required=False)

    @extend_schema(
        parameters=[
            _RETRY_AFTER,
            OpenApiParameter(
                "account",
                {"type": "string", "maxLength": 100},
                description="An account's external_ref.",
            ),
            OpenApiParameter("received_since", _SINCE, description=_SINCE_HELP),
            OpenApiParameter("cursor", description=_CURSOR_HELP),
        ],
        responses={
            200: PaymentPageSerializer,
            400: _errors_of("PaymentListError", "account", "received_since", "cursor", "page_size"),
            **_AUTH_ERRORS,
        },
        operation_id="payments_list",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        qs = selectors.payments_list(
            creditor=_creditor(request),
            account_ref=params.get("account") or None,
            received_since=_parse_since(params.get("received_since"), "received_since"),
        )
        paginator = _PaymentCursor()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response([_payment_out(p) for p in page])
