"""Creditor API routes, mounted at /api/v1/."""

from django.urls import path, register_converter

from accounts import apis


class RefConverter:
    """An external reference in a URL: any text but `/` and NUL (PostgreSQL refuses NUL in
    text, so a NUL would otherwise reach the query and fail there instead of answering 404)."""

    regex = "[^/\x00]+"

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
]
