"""Every answer of the creditor API matches its OpenAPI schema.

Each view writes its answer through its own `OutputSerializer`, which drf-spectacular also turns
into the schema. These tests validate real answers, one per documented status, against the
generated schema made strict (no undocumented keys), so the two cannot drift apart.
"""

import json
from decimal import Decimal
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from rest_framework.test import APIClient

from accounts import services
from accounts.tests.factories import UserFactory, place, row

pytestmark = pytest.mark.django_db


def _strict(node: Any) -> Any:
    """OpenAPI 3.0 to JSON Schema (`nullable` as a null type), with objects that list their
    properties allowing no others."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _strict(value) for key, value in node.items()}
    if node.get("type") == "object" and "properties" in node:
        node.setdefault("additionalProperties", False)
    if node.pop("nullable", False):
        node = {"anyOf": [node, {"type": "null"}]}
    return node


@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def _errors(components: dict, body_schema: dict, value: Any) -> list[str]:
    """Where `value` breaks `body_schema` made strict (`components`: the strict components)."""
    validator = Draft202012Validator({"components": components, "allOf": [_strict(body_schema)]})
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(value)]


@pytest.fixture
def check(schema):
    components = _strict(schema["components"])

    def check(path: str, method: str, response) -> dict:
        documented = schema["paths"][path][method]["responses"]
        assert str(response.status_code) in documented, (path, method, response.status_code)
        content = documented[str(response.status_code)]["content"]
        assert response["Content-Type"] in content, response["Content-Type"]
        body = response.json()
        errors = _errors(components, content[response["Content-Type"]]["schema"], body)
        assert not errors, (path, method, response.status_code, errors)
        return body

    return check


PLACEMENTS = "/api/v1/placements/"
ACCOUNTS = "/api/v1/accounts/"
ACCOUNT = "/api/v1/accounts/{external_ref}/"
RECALL = "/api/v1/accounts/{external_ref}/recall/"
PAYMENTS = "/api/v1/payments/"


def test_placement_answers_match_the_schema(api, check):
    partial = api.post(PLACEMENTS, {"accounts": [row(1), row(2, currency="ZZZ")]}, format="json")
    body = check(PLACEMENTS, "post", partial)
    assert body["rejected"][0]["errors"] == {"currency": ["Unknown ISO 4217 currency code 'ZZZ'."]}
    all_rejected = api.post(
        PLACEMENTS, {"accounts": [row(3, debtor={"phone": "12"}), "x"]}, format="json"
    )
    assert check(PLACEMENTS, "post", all_rejected)["summary"]["rejected"] == 2
    for bad in ({"accounts": []}, {"rows": []}, [1]):
        check(PLACEMENTS, "post", api.post(PLACEMENTS, bad, format="json"))
    check(PLACEMENTS, "post", api.generic("POST", PLACEMENTS, "{", "application/json"))
    deep = json.dumps({"accounts": []}).replace("[]", "[" * 100 + "]" * 100)
    check(PLACEMENTS, "post", api.generic("POST", PLACEMENTS, deep, "application/json"))
    form = api.post(PLACEMENTS, {"accounts": "x"})  # multipart: JSON only
    assert form.status_code == 415
    check(PLACEMENTS, "post", form)


def test_list_answers_match_the_schema(api, creditor, check):
    accounts = place(creditor, row(1), row(2), row(3))
    for n, account in enumerate(accounts):
        services.payment_record(
            account=account,
            amount=Decimal("2.5"),
            idempotency_key=f"k{n}",
            method="card",
            actor="t",
        )
    page = check(ACCOUNTS, "get", api.get(ACCOUNTS, {"page_size": 2}))
    assert page["next"] and page["previous"] is None
    check(ACCOUNTS, "get", api.get(page["next"]))
    for query in (
        {"status": "lost"},
        {"updated_since": "x"},
        {"cursor": "x"},
        {"region": "X" * 13},
    ):
        assert api.get(ACCOUNTS, query).status_code == 400
        check(ACCOUNTS, "get", api.get(ACCOUNTS, query))
    page = check(PAYMENTS, "get", api.get(PAYMENTS, {"page_size": 2}))
    check(PAYMENTS, "get", api.get(page["next"]))
    for query in ({"received_since": "x"}, {"cursor": "x"}, {"account": "\x00"}):
        check(PAYMENTS, "get", api.get(PAYMENTS, query))


def test_account_answers_match_the_schema(api, creditor, check):
    (account,) = place(creditor, row(1, due_date=None, description=None))
    services.payment_record(
        account=account, amount=Decimal("2.5"), idempotency_key="k", method="card", actor="t"
    )
    detail = check(ACCOUNT, "get", api.get(f"{ACCOUNTS}ACC-1/"))
    assert detail["due_date"] is None and detail["payments"] and detail["timeline"]
    check(ACCOUNT, "get", api.get(f"{ACCOUNTS}NOPE/"))
    check(RECALL, "post", api.post(f"{ACCOUNTS}ACC-1/recall/"))
    assert check(RECALL, "post", api.post(f"{ACCOUNTS}ACC-1/recall/"))["detail"]
    check(RECALL, "post", api.post(f"{ACCOUNTS}NOPE/recall/"))


@pytest.mark.parametrize(
    ("path", "method", "url"),
    [
        (PLACEMENTS, "post", PLACEMENTS),
        (ACCOUNTS, "get", ACCOUNTS),
        (ACCOUNT, "get", f"{ACCOUNTS}ACC-1/"),
        (RECALL, "post", f"{ACCOUNTS}ACC-1/recall/"),
        (PAYMENTS, "get", PAYMENTS),
    ],
)
def test_authentication_errors_match_the_schema(check, path, method, url):
    assert check(path, method, getattr(APIClient(), method)(url))["detail"]
    from accounts.api_keys.services import api_key_issue

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_issue(user=UserFactory(), name='k')[1]}")
    response = getattr(client, method)(url)
    assert response.status_code == 403
    check(path, method, response)


OPERATIONS = [
    (PLACEMENTS, "post", PLACEMENTS),
    (ACCOUNTS, "get", ACCOUNTS),
    (ACCOUNT, "get", f"{ACCOUNTS}ACC-1/"),
    (RECALL, "post", f"{ACCOUNTS}ACC-1/recall/"),
    (PAYMENTS, "get", PAYMENTS),
]


def test_every_operation_documents_the_rate_limit_with_retry_after(schema):
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) >= len(OPERATIONS)
    for path, method, operation in operations:
        throttled = operation["responses"].get("429")
        assert throttled, (path, method)
        assert throttled["headers"]["Retry-After"]["schema"]["type"] == "integer", (path, method)


@pytest.mark.parametrize(("path", "method", "url"), OPERATIONS)
def test_rate_limited_answers_match_the_schema(api, check, settings, path, method, url):
    from django.core.cache import cache

    cache.clear()
    rates = dict.fromkeys(("api", "placements"), "1/day")
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {f"{family}_burst": r for family, r in rates.items()},
    }
    if url == PLACEMENTS:
        api.post(url, {"accounts": [row(1)]}, format="json")
    else:
        getattr(api, method)(url)
    response = getattr(api, method)(url)
    assert response.status_code == 429
    assert int(response["Retry-After"]) == check(path, method, response)["retry_after"]
    cache.clear()


def _bare_objects(node: Any, where: str = "") -> list[str]:
    """Where the schema says only "an object", without the keys or values it holds."""
    found = []
    if isinstance(node, dict):
        described = node.get("properties") or node.get("additionalProperties") not in (
            None,
            {},
            True,
        )
        if node.get("type") == "object" and not described:
            found.append(where)
        for key, value in node.items():
            found += _bare_objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            found += _bare_objects(value, f"{where}/{n}")
    return found


def test_no_answer_or_parameter_is_documented_as_a_bare_object(schema):
    assert _bare_objects({"paths": schema["paths"], "components": schema["components"]}) == []
    assert _bare_objects({"type": "object", "additionalProperties": {}}) == [""]


def test_since_parameters_are_date_times_and_page_sizes_bounded_integers(schema):
    for path in (ACCOUNTS, PAYMENTS):
        parameters = {p["name"]: p["schema"] for p in schema["paths"][path]["get"]["parameters"]}
        (since,) = (schema for name, schema in parameters.items() if name.endswith("_since"))
        assert {"type": "string", "format": "date-time"} in since["anyOf"]
        assert parameters["page_size"] == {"type": "integer", "minimum": 1, "maximum": 1000}


def test_a_since_parameter_reads_a_date_as_midnight_utc_and_answers_in_utc(api, creditor):
    place(creditor, row(1))
    assert api.get(ACCOUNTS, {"updated_since": "2000-01-01"}).json()["results"]
    assert api.get(ACCOUNTS, {"updated_since": "2999-01-01T00:00:00+14:00"}).json()["results"] == []
    refused = api.get(ACCOUNTS, {"updated_since": "0001-01-01T00:00:00+01:00"})
    assert refused.status_code == 400
    assert refused.json() == {
        "updated_since": ["Use an ISO 8601 date or date-time, e.g. 2026-01-31."]
    }


def _examples(schema) -> list[tuple[str, str, str, str, Any, dict]]:
    """Every example in the schema: (path, method, where, name, value, the schema it is for);
    `where` is "request" or the answer's status."""
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            parts = [("request", operation.get("requestBody", {}))]
            parts += [(code, answer) for code, answer in operation["responses"].items()]
            for where, part in parts:
                for media in part.get("content", {}).values():
                    for name, example in media.get("examples", {}).items():
                        found.append((path, method, where, name, example["value"], media))
    return found


def test_every_example_matches_the_schema_it_illustrates(schema):
    components = _strict(schema["components"])
    examples = _examples(schema)
    named = {(path, where, name) for path, _m, where, name, _v, _s in examples}
    assert {
        (PLACEMENTS, "request", "TwoAccounts"),
        (PLACEMENTS, "200", "OneRowRejected"),
        (PLACEMENTS, "400", "AnEmptyList"),
        ("/api/v1/webhook-endpoints/", "request", "PaymentsAndPlans"),
        ("/api/v1/webhook-endpoints/{endpoint_id}/", "request", "Disable"),
    } <= named
    for path, method, where, name, value, media in examples:
        errors = _errors(components, media["schema"], value)
        assert not errors, (path, method, where, name, errors)


def test_the_placement_examples_are_what_the_api_answers(api):
    from accounts import api_examples as ex

    # Swagger UI's "Try it out" sends the request example as it stands.
    first = api.post(PLACEMENTS, ex.PLACEMENT_REQUEST, format="json")
    assert (first.status_code, first.json()) == (200, ex.PLACEMENT_CREATED)
    again = api.post(PLACEMENTS, ex.PLACEMENT_REQUEST, format="json")
    assert (again.status_code, again.json()) == (200, ex.PLACEMENT_UNCHANGED)
    empty = api.post(PLACEMENTS, {"accounts": []}, format="json")
    assert (empty.status_code, empty.json()) == (400, ex.PLACEMENT_EMPTY)


def test_the_rejected_row_example_is_what_the_api_answers(api):
    from accounts import api_examples as ex

    ada, camille = ex.PLACEMENT_REQUEST["accounts"]
    body = {"accounts": [ada, {**camille, "currency": "ZZZ"}]}
    answer = api.post(PLACEMENTS, body, format="json")
    assert (answer.status_code, answer.json()) == (200, ex.PLACEMENT_ONE_REJECTED)


def test_the_webhook_endpoint_examples_are_accepted(api, settings):
    from accounts import api_examples as ex

    # The example's host is not on this machine's network: the same body, to an address here.
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    body = {**ex.WEBHOOK_ENDPOINT_REQUEST, "url": "https://127.0.0.1/collections"}
    made = api.post("/api/v1/webhook-endpoints/", body, format="json")
    assert made.status_code == 201, made.json()
    endpoint = made.json()
    assert endpoint["secret"] and endpoint["event_types"] == body["event_types"]
    for example in ex.webhook_endpoint_update_examples:
        change = dict(example.value)
        if "url" in change:
            change["url"] = "https://127.0.0.1/collections/v2"
        answer = api.patch(f"/api/v1/webhook-endpoints/{endpoint['id']}/", change, format="json")
        assert answer.status_code == 200, (example.name, answer.json())
        assert {key: answer.json()[key] for key in change} == change, example.name
