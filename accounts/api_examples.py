"""Worked examples in the creditor API's OpenAPI schema (drf-spectacular's `OpenApiExample`).

Swagger UI (`/api/docs/`) fills "Try it out" with a request example, so each one is accepted
as it stands: `accounts/tests/test_api_schema.py` posts them and checks that every example,
answers included, matches the schema and what the API really answers.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

# The placement of docs/api.md, and a second account of another region with only the
# required fields and a few more.
_ADA = {
    "external_ref": "INV-1001",
    "currency": "USD",
    "original_amount": "240.00",
    "current_balance": "200.00",
    "due_date": "2026-10-01",
    "description": "Broadband contract",
    "debtor": {
        "external_ref": "CUST-77",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "+16175550123",
        "address_line1": "1 Main St",
        "city": "Boston",
        "postal_code": "02101",
        "region": "US-MA",
        "timezone": "America/New_York",
        "language": "en",
        "date_of_birth": "1980-02-03",
        "flags": ["cell_phone", "consent_sms"],
    },
}
_CAMILLE = {
    "external_ref": "INV-1002",
    "currency": "EUR",
    "original_amount": "89.90",
    "description": "Mobile phone contract",
    "debtor": {
        "external_ref": "CUST-78",
        "first_name": "Camille",
        "last_name": "Martin",
        "email": "camille.martin@example.fr",
        "region": "FR",
    },
}

PLACEMENT_REQUEST = {"accounts": [_ADA, _CAMILLE]}
# What `PLACEMENT_REQUEST` answers the first time, and every time after.
PLACEMENT_CREATED = {
    "summary": {"received": 2, "created": 2, "updated": 0, "unchanged": 0, "rejected": 0},
    "created": ["INV-1001", "INV-1002"],
    "updated": [],
    "unchanged": [],
    "rejected": [],
}
PLACEMENT_UNCHANGED = {
    "summary": {"received": 2, "created": 0, "updated": 0, "unchanged": 2, "rejected": 0},
    "created": [],
    "updated": [],
    "unchanged": ["INV-1001", "INV-1002"],
    "rejected": [],
}
# `PLACEMENT_REQUEST` with the second row's currency "ZZZ", sent before any of it was placed.
PLACEMENT_ONE_REJECTED = {
    "summary": {"received": 2, "created": 1, "updated": 0, "unchanged": 0, "rejected": 1},
    "created": ["INV-1001"],
    "updated": [],
    "unchanged": [],
    "rejected": [
        {
            "index": 1,
            "external_ref": "INV-1002",
            "errors": {"currency": ["Unknown ISO 4217 currency code 'ZZZ'."]},
        }
    ],
}
PLACEMENT_EMPTY = {"accounts": ["The list of accounts is empty."]}

placement_examples = [
    OpenApiExample(
        "Two accounts",
        value=PLACEMENT_REQUEST,
        request_only=True,
        description="A debtor in Massachusetts with every field, and one in France with the "
        "required fields and a few more (time zone and language follow the region).",
    ),
    OpenApiExample(
        "Placed",
        value=PLACEMENT_CREATED,
        response_only=True,
        status_codes=["200"],
        description="The first time; sent again, the same rows are `unchanged`.",
    ),
    OpenApiExample(
        "Placed again",
        value=PLACEMENT_UNCHANGED,
        response_only=True,
        status_codes=["200"],
        description="The same body sent again: nothing created twice.",
    ),
    OpenApiExample(
        "One row rejected",
        value=PLACEMENT_ONE_REJECTED,
        response_only=True,
        status_codes=["200"],
        description='The second row with `"currency": "ZZZ"`: the first is saved, the second '
        "is listed with its field errors and its position in `accounts`.",
    ),
    OpenApiExample(
        "An empty list",
        value=PLACEMENT_EMPTY,
        response_only=True,
        status_codes=["400"],
        description='`{"accounts": []}`: nothing to place.',
    ),
]

WEBHOOK_ENDPOINT_REQUEST = {
    "url": "https://hooks.example.com/collections",
    "event_types": ["payment.succeeded", "account.paid", "plan.broken"],
    "description": "Ledger sync",
    "enabled": True,
}

webhook_endpoint_create_examples = [
    OpenApiExample(
        "Payments and plans",
        value=WEBHOOK_ENDPOINT_REQUEST,
        request_only=True,
        description="Three kinds of event to one https address; leave `event_types` out "
        "for every event. The answer holds the signing secret, shown this once.",
    ),
]

webhook_endpoint_update_examples = [
    OpenApiExample(
        "Disable",
        value={"enabled": False},
        request_only=True,
        description="Stop sending; pending deliveries end as failed.",
    ),
    OpenApiExample(
        "Every event",
        value={"event_types": []},
        request_only=True,
        description='An empty list, or `["*"]`: every event.',
    ),
    OpenApiExample(
        "A new address",
        value={"url": "https://hooks.example.com/collections/v2"},
        request_only=True,
    ),
]
