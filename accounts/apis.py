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
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from accounts import money, selectors, services
from accounts.models import Account, AccountStatus, Creditor, DomainError, TransitionError


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus domain errors: forbidden transitions 409, other refusals 400."""
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


# --- Placements -------------------------------------------------------------------------------


# Serializers below document the placement format in the OpenAPI schema; validation itself is
# `accounts.placement.validate_row` (per-row errors, and fast enough for 10,000 rows).


class PlacementDebtorDoc(serializers.Serializer):
    external_ref = serializers.CharField(max_length=100)
    first_name = serializers.CharField(required=False)
    last_name = serializers.CharField()
    email = serializers.EmailField(required=False)
    phone = serializers.CharField(required=False, help_text="E.164 or national format.")
    address_line1 = serializers.CharField(required=False)
    address_line2 = serializers.CharField(required=False)
    city = serializers.CharField(required=False)
    postal_code = serializers.CharField(required=False)
    region = serializers.CharField(help_text="ISO 3166-1 or ISO 3166-2, e.g. US-MA.")
    timezone = serializers.CharField(required=False, help_text="IANA; default from region.")
    language = serializers.CharField(required=False, help_text="ISO 639-1; default from region.")
    date_of_birth = serializers.DateField(required=False)
    flags = serializers.ListField(child=serializers.CharField(), required=False)


class PlacementRowDoc(serializers.Serializer):
    external_ref = serializers.CharField(max_length=100)
    currency = serializers.CharField(required=False, help_text="ISO 4217; default creditor's.")
    original_amount = serializers.CharField(help_text='Decimal string, e.g. "120.50".')
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

    @extend_schema(
        request=inline_serializer(
            "PlacementRequest",
            {"accounts": serializers.ListField(child=PlacementRowDoc())},
        ),
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
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
            OpenApiParameter("status", enum=AccountStatus.values),
            OpenApiParameter("region", description="Exact code, or a country for all its parts."),
            OpenApiParameter("updated_since", description="ISO 8601 date or date-time (UTC)."),
            OpenApiParameter("cursor", description="From the previous page's `next` link."),
            OpenApiParameter("page_size", int, description="Up to 1000, default 100."),
        ],
        responses={200: OpenApiTypes.OBJECT},
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
        responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT},
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

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT})
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
            OpenApiParameter("account", description="An account's external_ref."),
            OpenApiParameter("received_since", description="ISO 8601 date or date-time (UTC)."),
            OpenApiParameter("cursor", description="From the previous page's `next` link."),
        ],
        responses={200: OpenApiTypes.OBJECT},
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
