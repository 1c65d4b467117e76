"""The webhooks in the creditor API: endpoints (`/api/v1/webhook-endpoints/`), their
deliveries with the log of attempts and manual re-sends, and the events (`/api/v1/events/`).

Scoped like every view of the API: another creditor's endpoint or delivery answers 404,
exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import api_rows
from accounts.api_examples import (
    webhook_endpoint_create_examples,
    webhook_endpoint_update_examples,
)
from accounts.apis import _AUTH_ERRORS, _RETRY_AFTER, _creditor, _error, _page
from accounts.pagination import KeysetPagination
from accounts.serializers import (
    PageOutput,
    PageSizeField,
    SinceField,
    cursor_field,
    errors_of,
)
from accounts.webhooks import services
from accounts.webhooks.models import (
    ALL_EVENTS,
    DeliveryStatus,
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from accounts.webhooks.serializers import (
    DeliveryOutput,
    EndpointOutput,
    EndpointSecretOutput,
    EventOutput,
)

_MAX_ID = 2**63 - 1


def _id(raw: str) -> int | None:
    """A path's id as a positive 64-bit integer, or None (then the view answers 404)."""
    if raw.isascii() and raw.isdigit() and len(raw) <= 19 and 1 <= int(raw) <= _MAX_ID:
        return int(raw)
    return None


def _path_id(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        {"type": "integer", "minimum": 1, "maximum": _MAX_ID},
        OpenApiParameter.PATH,
        description=f"The {what}'s id.",
    )


_ENDPOINT_ID = _path_id("endpoint_id", "endpoint")
_DELIVERY_ID = _path_id("delivery_id", "delivery")
_NO_ENDPOINT = {404: _error("No such endpoint for this creditor (another creditor's too).")}
_NO_DELIVERY = {404: _error("No such endpoint or delivery for this creditor.")}


def _endpoint(request: Request, raw: str) -> WebhookEndpoint:
    pk = _id(raw)
    endpoint = (
        WebhookEndpoint.objects.filter(creditor=_creditor(request), pk=pk).first() if pk else None
    )
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


class _CreatedCursor(KeysetPagination):
    ordering = ("created_at", "id")


# --- Endpoints --------------------------------------------------------------------------------


class EventTypesField(serializers.ListField):
    """A list of event type names, its errors one flat list (DRF would key an item's errors
    by its index)."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict):
                raise serializers.ValidationError(
                    'Give a list of event type names, e.g. ["account.paid"].'
                ) from exc
            raise


class EndpointInput(serializers.Serializer):
    url = serializers.URLField(max_length=2000, help_text="https; a public address.")
    event_types = EventTypesField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=len(EventType.values) + 1,
        help_text='Event types to send; empty or ["*"] (the default): every event.',
    )
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    enabled = serializers.BooleanField(required=False, default=True)

    def validate_event_types(self, value: list[str]) -> list[str]:
        try:
            return services.event_types_clean(value)
        except services.EndpointRefused as refused:
            raise serializers.ValidationError(str(refused)) from refused


_INPUT_FIELDS = ("url", "event_types", "description", "enabled", "non_field_errors")


def _input_errors(name: str) -> OpenApiResponse:
    return OpenApiResponse(
        inline_serializer(
            name,
            {
                **{
                    field: serializers.ListField(child=serializers.CharField(), required=False)
                    for field in _INPUT_FIELDS
                },
                "detail": serializers.CharField(
                    required=False, help_text="JSON that cannot be parsed."
                ),
            },
        ),
        description="Field errors (a URL that is not https or not on a public address among "
        "them), or `detail` for JSON that cannot be parsed.",
    )


def _save(request: Request, call, **kwargs: Any):
    """Run an endpoint service; its refusals become 400s naming the field."""
    try:
        return call(**kwargs)
    except services.EndpointRefused as refused:
        raise ValidationError({refused.field: [str(refused)]}) from refused


class EndpointListApi(APIView):
    """The creditor's webhook endpoints (oldest first); POST adds one and answers its signing
    secret, shown this once."""

    parser_classes = [JSONParser]

    class FilterSerializer(serializers.Serializer):
        cursor = cursor_field()
        page_size = PageSizeField()

    @extend_schema_serializer(component_name="WebhookEndpointPage")
    class OutputSerializer(PageOutput):
        results = EndpointOutput(many=True)

    @extend_schema(
        parameters=[_RETRY_AFTER, FilterSerializer],
        responses={
            200: OutputSerializer,
            400: errors_of("WebhookEndpointListError", *FilterSerializer().fields),
            **_AUTH_ERRORS,
        },
        operation_id="webhook_endpoints_list",
    )
    def get(self, request: Request) -> Response:
        self.FilterSerializer(data=request.query_params).is_valid(raise_exception=True)
        qs = WebhookEndpoint.objects.filter(creditor=_creditor(request))
        paginator = _CreatedCursor()
        page = paginator.paginate_queryset(qs, request, view=self)
        return Response(self.OutputSerializer(_page(paginator, page)).data)

    @extend_schema(
        parameters=[_RETRY_AFTER],
        request=EndpointInput,
        examples=webhook_endpoint_create_examples,
        responses={
            201: EndpointSecretOutput,
            400: _input_errors("WebhookEndpointCreateError"),
            **_AUTH_ERRORS,
            415: _error("The body is not JSON (Content-Type: application/json)."),
        },
        operation_id="webhook_endpoints_create",
    )
    def post(self, request: Request) -> Response:
        data = EndpointInput(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = _save(
            request, services.endpoint_create, creditor=_creditor(request), **data.validated_data
        )
        return Response(EndpointSecretOutput(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointDetailApi(APIView):
    """One webhook endpoint: read, change (any of its fields), delete (with its delivery
    log; the events stay)."""

    parser_classes = [JSONParser]

    @extend_schema(
        parameters=[_ENDPOINT_ID, _RETRY_AFTER],
        responses={200: EndpointOutput, **_AUTH_ERRORS, **_NO_ENDPOINT},
        operation_id="webhook_endpoints_retrieve",
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        return Response(EndpointOutput(_endpoint(request, endpoint_id)).data)

    @extend_schema(
        parameters=[_ENDPOINT_ID, _RETRY_AFTER],
        request=EndpointInput(partial=True),
        examples=webhook_endpoint_update_examples,
        responses={
            200: EndpointOutput,
            400: _input_errors("WebhookEndpointUpdateError"),
            **_AUTH_ERRORS,
            **_NO_ENDPOINT,
            415: _error("The body is not JSON (Content-Type: application/json)."),
        },
        operation_id="webhook_endpoints_update",
        description="Enabling an endpoint clears `disabled_at`; disabling it ends its pending "
        "deliveries as failed.",
    )
    def patch(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _endpoint(request, endpoint_id)
        data = EndpointInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = {k: v for k, v in data.validated_data.items() if k in request.data}
        endpoint = _save(request, services.endpoint_update, endpoint=endpoint, **changes)
        return Response(EndpointOutput(endpoint).data)

    @extend_schema(
        parameters=[_ENDPOINT_ID, _RETRY_AFTER],
        responses={204: None, **_AUTH_ERRORS, **_NO_ENDPOINT},
        operation_id="webhook_endpoints_destroy",
    )
    def delete(self, request: Request, endpoint_id: str) -> Response:
        services.endpoint_delete(_endpoint(request, endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRollSecretApi(APIView):
    """A new signing secret, shown this once. The old one also signs deliveries (a second
    `v1=`) for 24 hours, so the receiver can switch without losing events."""

    @extend_schema(
        request=None,
        parameters=[_ENDPOINT_ID, _RETRY_AFTER],
        responses={200: EndpointSecretOutput, **_AUTH_ERRORS, **_NO_ENDPOINT},
        operation_id="webhook_endpoints_roll_secret",
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        endpoint = services.secret_roll(_endpoint(request, endpoint_id))
        return Response(EndpointSecretOutput(endpoint).data)


# --- Deliveries -------------------------------------------------------------------------------


class DeliveryListApi(APIView):
    """An endpoint's deliveries, oldest first, each with its log of attempts (status code,
    latency, the first 1 KiB of the answer, or the error)."""

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=DeliveryStatus.choices, required=False, allow_blank=True
        )
        cursor = cursor_field()
        page_size = PageSizeField()

    @extend_schema_serializer(component_name="WebhookDeliveryPage")
    class OutputSerializer(PageOutput):
        results = DeliveryOutput(many=True)

    @extend_schema(
        parameters=[_ENDPOINT_ID, _RETRY_AFTER, FilterSerializer],
        responses={
            200: OutputSerializer,
            400: errors_of("WebhookDeliveryListError", *FilterSerializer().fields),
            **_AUTH_ERRORS,
            **_NO_ENDPOINT,
        },
        operation_id="webhook_deliveries_list",
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _endpoint(request, endpoint_id)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        qs = (
            WebhookDelivery.objects.filter(endpoint=endpoint)
            .select_related("event")
            .prefetch_related("attempt_log")
        )
        if filters.validated_data.get("status"):
            qs = qs.filter(status=filters.validated_data["status"])
        paginator = _CreatedCursor()
        page = paginator.paginate_queryset(qs, request, view=self)
        return Response(self.OutputSerializer(_page(paginator, page)).data)


class DeliveryResendApi(APIView):
    """Send a delivery again now: one more attempt for a delivered or given-up one, the
    next retry brought forward for a pending one. 409 while the endpoint is disabled."""

    @extend_schema(
        request=None,
        parameters=[_ENDPOINT_ID, _DELIVERY_ID, _RETRY_AFTER],
        responses={
            202: DeliveryOutput,
            **_AUTH_ERRORS,
            **_NO_DELIVERY,
            409: _error("The endpoint is disabled; enable it first."),
        },
        operation_id="webhook_deliveries_resend",
    )
    def post(self, request: Request, endpoint_id: str, delivery_id: str) -> Response:
        endpoint = _endpoint(request, endpoint_id)
        pk = _id(delivery_id)
        delivery = WebhookDelivery.objects.filter(endpoint=endpoint, pk=pk).first() if pk else None
        if delivery is None:
            raise NotFound("No such delivery.")
        try:
            services.delivery_resend(delivery)
        except services.EndpointRefused as refused:
            return Response({"detail": str(refused)}, status=status.HTTP_409_CONFLICT)
        delivery = (
            WebhookDelivery.objects.select_related("event")
            .prefetch_related("attempt_log")
            .get(pk=delivery.pk)
        )
        return Response(DeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)


# --- Events -----------------------------------------------------------------------------------


class EventListApi(APIView):
    """The creditor's events of the last 30 days, oldest first (cursor pagination): what a
    creditor whose endpoint was down reads to catch up."""

    class FilterSerializer(serializers.Serializer):
        type = serializers.ChoiceField(
            choices=[*EventType.choices, (ALL_EVENTS, "every type")],
            required=False,
            allow_blank=True,
        )
        created_since = SinceField(help_text="Events created at or after this time (ISO 8601).")
        created_before = SinceField(help_text="Events created before this time (ISO 8601).")
        cursor = cursor_field()
        page_size = PageSizeField()

    @extend_schema_serializer(component_name="EventPage")
    class OutputSerializer(PageOutput):
        results = EventOutput(many=True)

    @extend_schema(
        parameters=[_RETRY_AFTER, FilterSerializer],
        responses={
            200: OutputSerializer,
            400: errors_of("EventListError", *FilterSerializer().fields),
            **_AUTH_ERRORS,
        },
        operation_id="events_list",
    )
    def get(self, request: Request) -> HttpResponse:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        qs = WebhookEvent.objects.filter(creditor=_creditor(request))
        if params.get("type") and params["type"] != ALL_EVENTS:
            qs = qs.filter(type=params["type"])
        if params.get("created_since"):
            qs = qs.filter(created_at__gte=params["created_since"])
        if params.get("created_before"):
            qs = qs.filter(created_at__lt=params["created_before"])
        # `OutputSerializer`'s JSON, each row written by PostgreSQL (`accounts.api_rows`).
        return api_rows.page(_CreatedCursor(), qs, request, api_rows.event, EventOutput)
