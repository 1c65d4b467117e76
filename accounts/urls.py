"""Creditor API routes, mounted at /api/v1/."""

from django.urls import path, register_converter

from accounts import apis, report_apis
from accounts.webhooks import apis as webhook_apis


class RefConverter:
    """An account's external reference in a URL: any text, `/` included (sent as `%2F`, which
    the server decodes before routing, or as is), but not NUL (PostgreSQL refuses NUL in text,
    so a NUL would otherwise reach the query and fail there instead of answering 404), and not
    ending in `/recall`, so `accounts/X/recall/` is always X's recall URL (placement refuses
    such references: accounts.placement.RECALL_SUFFIX)."""

    # ("recall" alone is a reference: the look-behind would see the "/" before it.)
    regex = "(?:recall|[^\x00]+(?<!/recall))"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class IdConverter:
    """An object's id in a URL: any text but `/` (and NUL); the view answers 404 in JSON for
    one that is not a positive whole number, where a stricter pattern would leave the URL
    unmatched and answered by Django's HTML page."""

    regex = "[^/\x00]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value) -> str:
        return str(value)


register_converter(RefConverter, "ref")
register_converter(IdConverter, "id")

app_name = "api"

urlpatterns = [
    path("placements/", apis.PlacementCreateApi.as_view(), name="placements"),
    path("accounts/", apis.AccountListApi.as_view(), name="accounts"),
    path("accounts/<ref:external_ref>/", apis.AccountDetailApi.as_view(), name="account"),
    path(
        "accounts/<ref:external_ref>/recall/",
        apis.AccountRecallApi.as_view(),
        name="account-recall",
    ),
    path("payments/", apis.PaymentListApi.as_view(), name="payments"),
    path("reports/summary/", report_apis.ReportSummaryApi.as_view(), name="reports-summary"),
    path("statements/", report_apis.StatementApi.as_view(), name="statements"),
    path("webhook-endpoints/", webhook_apis.EndpointListApi.as_view(), name="webhook-endpoints"),
    path(
        "webhook-endpoints/<id:endpoint_id>/",
        webhook_apis.EndpointDetailApi.as_view(),
        name="webhook-endpoint",
    ),
    path(
        "webhook-endpoints/<id:endpoint_id>/roll-secret/",
        webhook_apis.EndpointRollSecretApi.as_view(),
        name="webhook-endpoint-roll-secret",
    ),
    path(
        "webhook-endpoints/<id:endpoint_id>/deliveries/",
        webhook_apis.DeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "webhook-endpoints/<id:endpoint_id>/deliveries/<id:delivery_id>/resend/",
        webhook_apis.DeliveryResendApi.as_view(),
        name="webhook-delivery-resend",
    ),
    path("events/", webhook_apis.EventListApi.as_view(), name="events"),
]
