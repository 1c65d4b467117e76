import json
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from accounts import services
from accounts.models import Account, Payment
from accounts.tests.factories import UserFactory, place, row

pytestmark = pytest.mark.django_db

PLACEMENTS = "/api/v1/placements/"


def post(client, body):
    return client.post(PLACEMENTS, body, format="json")


# --- authentication and tenancy ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", PLACEMENTS),
        ("get", "/api/v1/accounts/"),
        ("get", "/api/v1/accounts/ACC-1/"),
        ("post", "/api/v1/accounts/ACC-1/recall/"),
        ("get", "/api/v1/payments/"),
    ],
)
def test_every_endpoint_needs_a_token(method, url):
    response = getattr(APIClient(), method)(url)
    assert response.status_code == 401


def test_user_bound_to_no_creditor_is_forbidden(db):
    from accounts.api_keys.services import api_key_issue

    _key, plaintext = api_key_issue(user=UserFactory(), name="unbound")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    assert client.get("/api/v1/accounts/").status_code == 403


def test_another_creditors_account_is_not_found_on_every_endpoint(
    api, other_api, creditor, other_creditor
):
    (mine,) = place(creditor, row(1))
    place(other_creditor, row(2, currency="EUR"))
    services.payment_record(
        account=mine, amount=Decimal("5"), idempotency_key="k", method="card", actor="t"
    )

    assert other_api.get("/api/v1/accounts/ACC-1/").status_code == 404
    assert other_api.post("/api/v1/accounts/ACC-1/recall/").status_code == 404
    listed = other_api.get("/api/v1/accounts/").json()["results"]
    assert [a["external_ref"] for a in listed] == ["ACC-2"]
    assert other_api.get("/api/v1/payments/").json()["results"] == []
    assert other_api.get("/api/v1/payments/?account=ACC-1").json()["results"] == []
    # Placing the same reference at the other creditor makes a separate account.
    response = post(other_api, {"accounts": [row(1, currency="EUR")]})
    assert response.json()["created"] == ["ACC-1"]
    mine.refresh_from_db()
    assert mine.status == "active" and mine.currency == "USD"
    # The 404 for another tenant's account looks exactly like a missing one.
    missing = other_api.get("/api/v1/accounts/NOPE/")
    assert other_api.get("/api/v1/accounts/ACC-2/").status_code == 200
    assert api.get("/api/v1/accounts/ACC-2/").json() == missing.json()


# --- placements -------------------------------------------------------------------------------


def test_placement_creates_then_is_idempotent(api, creditor):
    body = {"accounts": [row(i) for i in range(3)]}
    first = post(api, body)
    assert first.status_code == 200
    assert first.json()["summary"] == {
        "received": 3, "created": 3, "updated": 0, "unchanged": 0, "rejected": 0
    }  # fmt: skip
    second = post(api, body)
    assert second.json()["summary"]["unchanged"] == 3
    assert Account.objects.filter(creditor=creditor).count() == 3


def test_partial_placement_saves_valid_rows_and_lists_rejected(api, creditor):
    response = post(api, {"accounts": [row(1), row(2, currency="ZZZ")]})
    assert response.status_code == 200
    body = response.json()
    assert body["created"] == ["ACC-1"]
    assert body["rejected"] == [
        {"index": 1, "external_ref": "ACC-2",
         "errors": {"currency": ["Unknown ISO 4217 currency code 'ZZZ'."]}}
    ]  # fmt: skip
    assert Account.objects.filter(creditor=creditor).count() == 1


@pytest.mark.parametrize(
    ("override", "field_path"),
    [
        ({"currency": "ABC"}, ["currency"]),
        ({"original_amount": "-10.00"}, ["original_amount"]),
        ({"original_amount": "0"}, ["original_amount"]),
        ({"debtor": {"phone": "+44 12"}}, ["debtor", "phone"]),
        ({"debtor": {"region": "XX-YY"}}, ["debtor", "region"]),
        ({"original_amount": None}, ["original_amount"]),
    ],
)
def test_bad_single_row_answers_400_with_field_errors(api, override, field_path):
    response = post(api, {"accounts": [row(1, **override)]})
    assert response.status_code == 400
    errors = response.json()["rejected"][0]["errors"]
    for key in field_path:
        errors = errors[key]
    assert isinstance(errors, list) and errors
    assert not Account.objects.exists()


def test_missing_fields_answer_400_naming_each(api):
    response = post(api, {"accounts": [{"external_ref": "A"}]})
    assert response.status_code == 400
    errors = response.json()["rejected"][0]["errors"]
    assert errors["original_amount"] == ["This field is required."]
    assert errors["debtor"] == {"non_field_errors": ["This field is required."]}


def test_malformed_json_answers_400(api):
    response = api.post(PLACEMENTS, data='{"accounts": [', content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


@pytest.mark.parametrize(
    "body", [[], {"rows": []}, {"accounts": "x"}, {"accounts": []}, "text", {"accounts": [1]}]
)
def test_wrong_body_shape_answers_400(api, body):
    response = api.post(PLACEMENTS, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert response.json()


def test_more_than_10000_rows_answers_400_and_saves_nothing(api):
    response = post(api, {"accounts": [row(i) for i in range(10_001)]})
    assert response.status_code == 400
    assert "at most 10,000 rows" in response.json()["accounts"][0]
    assert not Account.objects.exists()


# --- accounts ---------------------------------------------------------------------------------


def test_account_list_filters_and_paginates(api, creditor):
    place(
        creditor,
        row(1),
        row(2, debtor={"region": "US-WA", "phone": "+12065550123"}),
        row(3, debtor={"region": "FR", "phone": "+33612345678"}, currency="EUR"),
    )
    (acc,) = Account.objects.filter(external_ref="ACC-2")
    services.account_recall(account=acc, actor="t")

    def refs(url):
        return [a["external_ref"] for a in api.get(url).json()["results"]]

    assert refs("/api/v1/accounts/?status=recalled") == ["ACC-2"]
    assert sorted(refs("/api/v1/accounts/?region=US")) == ["ACC-1", "ACC-2"]
    assert refs("/api/v1/accounts/?region=US-MA") == ["ACC-1"]
    assert refs("/api/v1/accounts/?updated_since=2999-01-01") == []
    page = api.get("/api/v1/accounts/?page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]
    rest = api.get(page["next"]).json()
    assert len(rest["results"]) == 1 and rest["next"] is None
    first = page["results"][0]
    assert first["original_amount"] == "120.50" and first["currency"] == "USD"


@pytest.mark.parametrize(
    "query", ["status=lost", "updated_since=yesterday", "updated_since=2026-13-45"]
)
def test_bad_filters_answer_400(api, query):
    response = api.get(f"/api/v1/accounts/?{query}")
    assert response.status_code == 400
    assert response.json()


def test_account_detail_has_payments_and_timeline(api, creditor):
    (account,) = place(creditor, row(1, currency="JPY", original_amount="5000"))
    services.payment_record(
        account=account, amount=Decimal("1000"), idempotency_key="k", method="card", actor="t"
    )
    body = api.get("/api/v1/accounts/ACC-1/").json()
    assert body["current_balance"] == "4000"
    assert body["payments"][0]["amount"] == "1000"
    assert [t["kind"] for t in body["timeline"]] == ["payment", "placed"]


def test_recall_then_recall_again_is_a_conflict(api, creditor):
    place(creditor, row(1))
    first = api.post("/api/v1/accounts/ACC-1/recall/")
    assert first.status_code == 200 and first.json()["status"] == "recalled"
    second = api.post("/api/v1/accounts/ACC-1/recall/")
    assert second.status_code == 409
    assert "cannot become" in second.json()["detail"]


def test_payments_list(api, creditor):
    (a, b) = place(creditor, row(1), row(2))
    for account, key in ((a, "k1"), (b, "k2")):
        services.payment_record(
            account=account, amount=Decimal("3.10"), idempotency_key=key, method="card",
            actor="t",
        )  # fmt: skip
    body = api.get("/api/v1/payments/").json()
    assert [p["account"] for p in body["results"]] == ["ACC-1", "ACC-2"]
    assert body["results"][0]["amount"] == "3.10"
    only = api.get("/api/v1/payments/?account=ACC-2").json()["results"]
    assert [p["account"] for p in only] == ["ACC-2"]
    assert Payment.objects.count() == 2
    assert api.get("/api/v1/payments/?received_since=nope").status_code == 400
