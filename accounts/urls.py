"""Creditor API routes, mounted at /api/v1/."""

from django.urls import path, register_converter

from accounts import apis, report_apis


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


register_converter(RefConverter, "ref")

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
]
