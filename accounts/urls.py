"""Creditor API routes, mounted at /api/v1/."""

from django.urls import path

from accounts import apis

app_name = "api"

urlpatterns = [
    path("placements/", apis.PlacementCreateApi.as_view(), name="placements"),
    path("accounts/", apis.AccountListApi.as_view(), name="accounts"),
    path("accounts/<str:external_ref>/", apis.AccountDetailApi.as_view(), name="account"),
    path(
        "accounts/<str:external_ref>/recall/",
        apis.AccountRecallApi.as_view(),
        name="account-recall",
    ),
    path("payments/", apis.PaymentListApi.as_view(), name="payments"),
]
