"""The creditor REST API (`/api/v1/`): placements, accounts, recalls, payments.

Every view reads the creditor from the authenticated API user and scopes every query by it:
another creditor's account answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from accounts import api_rows, selectors, services
from accounts.api_examples import placement_examples
from accounts.models import AccountStatus, Creditor, DomainError, TransitionError
from accounts.pagination import KeysetPagination
from accounts.serializers import (
    AccountOutput,
    ErrorSerializer,
    PageOutput,
    PageSizeField,
    PaymentOutput,
    PlacementRequestDoc,
    PlacementResultOutput,
    RateLimitedSerializer,
    SinceField,
    TimelineEntryOutput,
    cursor_field,
    errors_of,
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


class _Cursor(KeysetPagination):
    """Lists in the order their rows last changed (accounts.pagination)."""

    ordering = ("updated_at", "id")


class _PaymentCursor(KeysetPagination):
    ordering = ("received_at", "id")


# --- Errors every operation documents ---------------------------------------------------------


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


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
_EXTERNAL_REF = OpenApiParameter(
    "external_ref",
    {"type": "string", "minLength": 1, "maxLength": 100},
    OpenApiParameter.PATH,
    description="The account's reference, URL-encoded: `INV/2026/001` is `INV%2F2026%2F001`.",
)


def _page(paginator: KeysetPagination, results: list[Any]) -> dict[str, Any]:
    """What a page-of serializer (`PageOutput`) reads: the links and the page's objects."""
    return {
        "next": paginator.get_next_link(),
        "previous": paginator.get_previous_link(),
        "results": results,
    }


# --- Placements -------------------------------------------------------------------------------


class PlacementCreateApi(APIView):
    """Place up to 10,000 accounts (each with its debtor); idempotent by external_ref.

    Answers 200 with what was created, updated, left unchanged and rejected (with each
    rejected row's index and field errors). Valid rows are saved even when others are
    rejected. Answers 400 when the body is malformed, has too many rows, or every row was
    rejected (then nothing was saved).
    """

    parser_classes = [JSONParser]

    throttle_scope = "placements"  # counted apart from the other endpoints (accounts/throttling)

    # The body is read by `accounts.placement.validate_row` (per-row errors, and fast enough for
    # 10,000 rows), not by a serializer; `PlacementRequestDoc` describes it for the schema.
    OutputSerializer = PlacementResultOutput

    @extend_schema(
        parameters=[_RETRY_AFTER],
        request=PlacementRequestDoc,
        examples=placement_examples,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(
                PolymorphicProxySerializer(
                    "PlacementRefused",
                    [
                        OutputSerializer,
                        errors_of("PlacementBodyError", "accounts", required=True),
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
        saved = result.created or result.updated or result.unchanged
        return Response(
            self.OutputSerializer(result).data,
            status=status.HTTP_200_OK if saved else status.HTTP_400_BAD_REQUEST,
        )


# --- Accounts ---------------------------------------------------------------------------------


class AccountListApi(APIView):
    """The creditor's accounts, oldest change first (cursor pagination, for syncing)."""

    class FilterSerializer(serializers.Serializer):
        # Blank parameters (`?status=`) filter nothing.
        status = serializers.ChoiceField(
            choices=AccountStatus.choices, required=False, allow_blank=True
        )
        region = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=12,
            help_text="Exact code, or a country for all its parts.",
        )
        updated_since = SinceField()
        cursor = cursor_field()
        page_size = PageSizeField()

    @extend_schema_serializer(component_name="AccountPage")
    class OutputSerializer(PageOutput):
        results = AccountOutput(many=True)

    @extend_schema(
        parameters=[_RETRY_AFTER, FilterSerializer],
        responses={
            200: OutputSerializer,
            400: errors_of("AccountListError", *FilterSerializer().fields),
            **_AUTH_ERRORS,
        },
        operation_id="accounts_list",
    )
    def get(self, request: Request) -> HttpResponse:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        qs = selectors.accounts_list(
            creditor=_creditor(request),
            status=params.get("status") or None,
            region=(params.get("region") or "").upper() or None,
            updated_since=params.get("updated_since"),
        )
        # `OutputSerializer`'s JSON, each row written by PostgreSQL (`accounts.api_rows`).
        return api_rows.page(_Cursor(), qs, request, api_rows.account, AccountOutput)


class AccountDetailApi(APIView):
    """One account with its payments and a summary of its timeline."""

    @extend_schema_serializer(component_name="AccountDetail")
    class OutputSerializer(AccountOutput):
        """The account, its payments, and its latest timeline entries."""

        # The view passes the timeline as `context["timeline"]` (selectors.account_timeline).

        payments = PaymentOutput(many=True, source="payments.all")
        timeline = serializers.SerializerMethodField(
            help_text="The latest 50 entries, newest first."
        )

        @extend_schema_field(TimelineEntryOutput(many=True))
        def get_timeline(self, account) -> list[dict[str, Any]]:
            return TimelineEntryOutput(self.context["timeline"], many=True).data

    @extend_schema(
        parameters=[_EXTERNAL_REF, _RETRY_AFTER],
        responses={200: OutputSerializer, **_AUTH_ERRORS, **_NOT_FOUND},
        operation_id="accounts_retrieve",
    )
    def get(self, request: Request, external_ref: str) -> Response:
        account = selectors.account_get(creditor=_creditor(request), external_ref=external_ref)
        if account is None:
            raise NotFound("No such account.")
        timeline = selectors.account_timeline(account=account)
        return Response(self.OutputSerializer(account, context={"timeline": timeline}).data)


class AccountRecallApi(APIView):
    """The creditor takes an account back; collection stops. 409 if it is already final."""

    OutputSerializer = AccountOutput

    @extend_schema(
        request=None,
        parameters=[_EXTERNAL_REF, _RETRY_AFTER],
        responses={
            200: OutputSerializer,
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
        return Response(self.OutputSerializer(account).data)


# --- Payments ---------------------------------------------------------------------------------


class PaymentListApi(APIView):
    """Payments received on the creditor's accounts, oldest first (cursor pagination)."""

    class FilterSerializer(serializers.Serializer):
        account = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=100,
            help_text="An account's external_ref; blank filters nothing.",
        )
        received_since = SinceField()
        cursor = cursor_field()
        page_size = PageSizeField()

    @extend_schema_serializer(component_name="PaymentPage")
    class OutputSerializer(PageOutput):
        results = PaymentOutput(many=True)

    @extend_schema(
        parameters=[_RETRY_AFTER, FilterSerializer],
        responses={
            200: OutputSerializer,
            400: errors_of("PaymentListError", *FilterSerializer().fields),
            **_AUTH_ERRORS,
        },
        operation_id="payments_list",
    )
    def get(self, request: Request) -> HttpResponse:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        qs = selectors.payments_list(
            creditor=_creditor(request),
            account_ref=params.get("account") or None,
            received_since=params.get("received_since"),
        )
        # `OutputSerializer`'s JSON, each row written by PostgreSQL (`accounts.api_rows`).
        return api_rows.page(_PaymentCursor(), qs, request, api_rows.payment, PaymentOutput)
