"""The creditor API's reports (`/api/v1/reports/summary/`) and monthly statements
(`/api/v1/statements/`, JSON or CSV): the figures of `accounts.reports`, scoped to the
creditor of the API key like every other answer."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import reports
from accounts.apis import _AUTH_ERRORS, _RETRY_AFTER, _creditor
from accounts.models import AccountStatus, PaymentMethod, PaymentStatus
from accounts.serializers import MONEY_HELP, MoneyField, errors_of

MAX_REPORT_DAYS = 5 * 366
DEFAULT_REPORT_DAYS = 365
YEARS = (1900, 2999)
YEARS_MESSAGE = "Choose a date from 1900 to 2999."


def _amount(help_text: str = "") -> serializers.CharField:
    return serializers.CharField(help_text=f"{help_text} {MONEY_HELP}".strip())


class _Tally(serializers.Serializer):
    currency = serializers.CharField()
    accounts = serializers.IntegerField(help_text="Accounts placed in the period.")
    placed = _amount()
    collected_on_placed = _amount()
    balance = _amount()
    recovery_rate = serializers.FloatField(
        allow_null=True, help_text="collected_on_placed / placed; null when nothing was placed."
    )


@extend_schema_serializer(component_name="ReportTally")
class TallyOutput(_Tally):
    pass


@extend_schema_serializer(component_name="ReportStatusTally")
class StatusTallyOutput(_Tally):
    status = serializers.ChoiceField(choices=AccountStatus.choices)


@extend_schema_serializer(component_name="ReportRegionTally")
class RegionTallyOutput(_Tally):
    region = serializers.CharField(source="debtor__region", allow_blank=True)


@extend_schema_serializer(component_name="ReportCohortTally")
class CohortTallyOutput(_Tally):
    month = serializers.CharField(source="cohort", help_text="Placement month, YYYY-MM (UTC).")


@extend_schema_serializer(component_name="ReportCollected")
class CollectedOutput(serializers.Serializer):
    currency = serializers.CharField()
    payments = serializers.IntegerField()
    amount = _amount()


class ReportSummaryApi(APIView):
    """The creditor's portfolio: what was placed in a period, what has been collected on it
    and the recovery rate, per currency, and split by status, region and placement month."""

    class FilterSerializer(serializers.Serializer):
        from_ = serializers.DateField(
            required=False, help_text="First UTC day of placement (default: a year before to)."
        )
        to = serializers.DateField(required=False, help_text="Last UTC day (default: today).")

        def get_fields(self):
            fields = super().get_fields()
            fields["from"] = fields.pop("from_")
            return fields

        def validate(self, attrs):
            for name in ("from", "to"):
                if name in attrs and not YEARS[0] <= attrs[name].year <= YEARS[1]:
                    raise serializers.ValidationError({name: [YEARS_MESSAGE]})
            end = attrs.get("to") or timezone.now().date()
            start = attrs.get("from") or end - timedelta(days=DEFAULT_REPORT_DAYS - 1)
            if start > end:
                raise serializers.ValidationError({"from": ["Must be on or before `to`."]})
            if (end - start).days >= MAX_REPORT_DAYS:
                raise serializers.ValidationError({"from": ["At most five years at a time."]})
            return {"start": start, "end": end}

    @extend_schema_serializer(component_name="ReportSummary")
    class OutputSerializer(serializers.Serializer):
        from_ = serializers.DateField()
        to = serializers.DateField()
        totals = TallyOutput(many=True)
        collected = CollectedOutput(
            many=True, help_text="Payments received in the period, on any account."
        )
        by_status = StatusTallyOutput(many=True)
        by_region = RegionTallyOutput(many=True)
        by_cohort = CohortTallyOutput(many=True)

        def get_fields(self):
            fields = super().get_fields()
            fields["from"] = fields.pop("from_")
            return fields

    @extend_schema(
        parameters=[_RETRY_AFTER, FilterSerializer],
        responses={
            200: OutputSerializer,
            400: errors_of("ReportSummaryError", "from", "to"),
            **_AUTH_ERRORS,
        },
        operation_id="reports_summary",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        summary = reports.portfolio_summary(creditor=_creditor(request), **filters.validated_data)
        return Response(self.OutputSerializer(summary).data)


class StatementCsvRenderer(BaseRenderer):
    """A statement as CSV: `statement_rows`' columns, a header first."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=reports.STATEMENT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(data["rows"])
        return out.getvalue().encode()


@extend_schema_serializer(component_name="StatementPayment")
class StatementPaymentOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    account = serializers.CharField(source="account.external_ref")
    received_at = serializers.DateTimeField()
    amount = MoneyField(amount="amount")
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=PaymentStatus.choices)
    method = serializers.ChoiceField(choices=PaymentMethod.choices)
    provider_reference = serializers.CharField(allow_blank=True)


@extend_schema_serializer(component_name="StatementTotal")
class StatementTotalOutput(serializers.Serializer):
    currency = serializers.CharField()
    payments = serializers.IntegerField()
    received = _amount()
    refunded = _amount(help_text="Of the amount received, what has been refunded since.")
    net = _amount()


class StatementApi(APIView):
    """Every payment received on the creditor's accounts in a month, with totals per currency:
    the basis of remittance. JSON, or CSV with `Accept: text/csv` or `?format=csv`."""

    renderer_classes = [JSONRenderer, StatementCsvRenderer]

    class FilterSerializer(serializers.Serializer):
        month = serializers.RegexField(
            r"^(19|2\d)\d\d-(0[1-9]|1[0-2])$",
            help_text="The UTC calendar month, YYYY-MM (years 1900 to 2999).",
        )
        format = serializers.ChoiceField(
            choices=["json", "csv"], required=False, help_text="Or the Accept header."
        )

    @extend_schema_serializer(component_name="Statement")
    class OutputSerializer(serializers.Serializer):
        month = serializers.CharField(help_text="YYYY-MM")
        payments = StatementPaymentOutput(many=True)
        totals = StatementTotalOutput(many=True)

    @extend_schema(
        parameters=[_RETRY_AFTER, FilterSerializer],
        responses={
            (200, "application/json"): OutputSerializer,
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="One `payment` row per payment, then one `total` row per currency.",
            ),
            400: errors_of("StatementError", "month", "format"),
            **_AUTH_ERRORS,
        },
        operation_id="statements_get",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        year, month = (int(p) for p in filters.validated_data["month"].split("-"))
        s = reports.statement(creditor=_creditor(request), month=date(year, month, 1))
        if isinstance(request.accepted_renderer, StatementCsvRenderer):
            name = f"statement-{s.month:%Y-%m}.csv"
            return Response(
                {"rows": list(reports.statement_rows(s))},
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        data = {"month": f"{s.month:%Y-%m}", "payments": s.payments, "totals": s.totals}
        return Response(self.OutputSerializer(data).data)

    def perform_content_negotiation(self, request, force=False):
        """An unknown `?format=` is the filter's 400 (DRF would answer 404)."""
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:
            return JSONRenderer(), JSONRenderer.media_type

    def finalize_response(self, request, response, *args, **kwargs):
        """Errors are JSON whatever was asked for: a CSV of an error would read as data."""
        if response.status_code >= 400:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)
