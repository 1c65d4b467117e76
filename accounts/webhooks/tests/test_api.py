"""The webhooks in the creditor API: endpoints, deliveries, re-sends and events, scoped to the
key's creditor, every answer checked against the OpenAPI schema."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.tests.factories import CreditorFactory, api_user, place, row
from accounts.webhooks import delivery
from accounts.webhooks import services as webhooks
from accounts.webhooks.models import WebhookEndpoint, WebhookEvent
from accounts.webhooks.tests.receiver import Receiver

pytestmark = pytest.mark.django_db

ENDPOINTS = "/api/v1/webhook-endpoints/"
ENDPOINT = "/api/v1/webhook-endpoints/{endpoint_id}/"
ROLL = "/api/v1/webhook-endpoints/{endpoint_id}/roll-secret/"
DELIVERIES = "/api/v1/webhook-endpoints/{endpoint_id}/deliveries/"
RESEND = "/api/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/resend/"
EVENTS = "/api/v1/events/"


@pytest.fixture
def receiver(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    r = Receiver()
    url = r.start()
    yield r, url
    r.stop()


def test_an_endpoint_is_created_read_changed_and_deleted(api, receiver, check):
    _r, url = receiver
    made = check(ENDPOINTS, "post", api.post(ENDPOINTS, {"url": url,
                 "event_types": ["payment.succeeded", "account.paid"]}, format="json"))  # fmt: skip
    assert made["secret"].startswith("whsec_") and made["enabled"] is True
    assert made["event_types"] == ["payment.succeeded", "account.paid"]
    one = f"{ENDPOINTS}{made['id']}/"
    read = check(ENDPOINT, "get", api.get(one))
    assert "secret" not in read  # shown once
    listed = check(ENDPOINTS, "get", api.get(ENDPOINTS))
    assert [e["id"] for e in listed["results"]] == [made["id"]]
    changed = check(ENDPOINT, "patch", api.patch(one, {"event_types": ["*"],
                    "description": "ERP"}, format="json"))  # fmt: skip
    assert changed["event_types"] == [] and changed["description"] == "ERP"
    assert changed["url"] == url  # untouched
    assert api.delete(one).status_code == 204
    assert check(ENDPOINT, "get", api.get(one))["detail"]
    assert api.get(one).status_code == 404


def test_bad_input_answers_400_naming_the_field(api, receiver, check):
    _r, url = receiver
    for body, field in [
        ({"url": "not a url"}, "url"),
        ({}, "url"),
        ({"url": url, "event_types": ["account.exploded"]}, "event_types"),
        ({"url": url, "event_types": "account.paid"}, "event_types"),
        ({"url": url, "enabled": "maybe"}, "enabled"),
        ({"url": url, "description": "x" * 201}, "description"),
        (["x"], "non_field_errors"),
    ]:
        answer = api.post(ENDPOINTS, body, format="json")
        assert answer.status_code == 400, body
        assert field in check(ENDPOINTS, "post", answer), body
    garbled = api.generic("POST", ENDPOINTS, "{", "application/json")
    assert check(ENDPOINTS, "post", garbled)["detail"]
    assert api.get(ENDPOINTS, {"page_size": "0"}).status_code == 400
    assert api.get(EVENTS, {"type": "x"}).status_code == 400
    check(EVENTS, "get", api.get(EVENTS, {"created_since": "x"}))


def test_another_creditors_endpoints_and_events_are_not_found(
    api, other_api, creditor, receiver, check
):
    _r, url = receiver
    endpoint = webhooks.endpoint_create(creditor=creditor, url=url)
    place(creditor, row(1))
    delivery_id = endpoint.deliveries.get().pk
    one = f"{ENDPOINTS}{endpoint.pk}/"
    for answer in (
        other_api.get(one),
        other_api.patch(one, {"enabled": False}, format="json"),
        other_api.delete(one),
        other_api.post(f"{one}roll-secret/"),
        other_api.get(f"{one}deliveries/"),
        other_api.post(f"{one}deliveries/{delivery_id}/resend/"),
    ):
        assert answer.status_code == 404
    assert other_api.get(ENDPOINTS).json()["results"] == []
    assert other_api.get(EVENTS).json()["results"] == []
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).enabled
    for bad in ("0", "x", "99999999999999999999", "-1"):
        check(ENDPOINT, "get", api.get(f"{ENDPOINTS}{bad}/"))
        assert api.get(f"{ENDPOINTS}{bad}/").status_code == 404


def test_roll_secret_deliveries_and_resend(api, creditor, receiver, check):
    r, url = receiver
    endpoint = webhooks.endpoint_create(creditor=creditor, url=url)
    rolled = check(ROLL, "post", api.post(f"{ENDPOINTS}{endpoint.pk}/roll-secret/"))
    assert rolled["secret"] != endpoint.secret and rolled["previous_secret_expires_at"]
    place(creditor, row(1))
    delivery.deliveries_send_due()
    listed = check(DELIVERIES, "get", api.get(f"{ENDPOINTS}{endpoint.pk}/deliveries/"))
    (one,) = listed["results"]
    assert one["status"] == "succeeded" and one["event_type"] == "account.placed"
    assert one["attempt_log"][0]["status_code"] == 200
    assert check(DELIVERIES, "get", api.get(f"{ENDPOINTS}{endpoint.pk}/deliveries/",
                 {"status": "failed"}))["results"] == []  # fmt: skip
    resend = f"{ENDPOINTS}{endpoint.pk}/deliveries/{one['id']}/resend/"
    answer = api.post(resend)
    assert answer.status_code == 202 and check(RESEND, "post", answer)["status"] == "pending"
    delivery.deliveries_send_due()
    assert len(r.received) == 2
    api.patch(f"{ENDPOINTS}{endpoint.pk}/", {"enabled": False}, format="json")
    refused = api.post(resend)
    assert refused.status_code == 409 and check(RESEND, "post", refused)["detail"]
    check(RESEND, "post", api.post(f"{ENDPOINTS}{endpoint.pk}/deliveries/999999/resend/"))


def test_events_list_filters_pages_and_matches_the_schema(api, creditor, check):
    accounts = place(creditor, row(1), row(2), row(3))
    services.payment_record(
        account=accounts[0], amount=Decimal("5"), idempotency_key="p", method="card", actor="t"
    )
    page = check(EVENTS, "get", api.get(EVENTS, {"page_size": 2}))
    assert len(page["results"]) == 2 and page["next"]
    rest = check(EVENTS, "get", api.get(page["next"]))
    ids = [e["id"] for e in page["results"] + rest["results"]]
    assert len(ids) == len(set(ids)) == 4
    paid = check(EVENTS, "get", api.get(EVENTS, {"type": "payment.succeeded"}))["results"]
    assert [e["data"]["object"]["amount"] for e in paid] == ["5.00"]
    assert paid[0]["id"].startswith("evt_") and paid[0]["api_version"] == "v1"
    future = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert api.get(EVENTS, {"created_since": future}).json()["results"] == []
    assert len(api.get(EVENTS, {"created_before": future}).json()["results"]) == 4


def test_events_older_than_30_days_are_pruned(creditor):
    place(creditor, row(1), row(2))
    WebhookEvent.objects.filter(data__object__external_ref="ACC-1").update(
        created_at=timezone.now() - timedelta(days=31)
    )
    assert webhooks.events_prune() == 1
    assert list(WebhookEvent.objects.values_list("data__object__external_ref", flat=True)) == [
        "ACC-2"
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_posts_at_once_at_the_endpoint_limit_answer_one_201_and_one_400(settings):
    """Two requests of one creditor that each find room for one more endpoint: the creditor's
    row is locked while the endpoints are counted, so the second counts the first's and is
    refused with a field error, never a 500, and the limit holds."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL")
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True  # https://127.0.0.1: no name to resolve
    creditor = CreditorFactory()
    for n in range(webhooks.MAX_ENDPOINTS - 1):
        webhooks.endpoint_create(creditor=creditor, url=f"https://127.0.0.1/hooks/{n}")
    clients = []
    for _ in range(2):  # two keys of the creditor, as two integrations
        _user, key = api_user(creditor)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        clients.append(client)
    limit = f"A creditor may have at most {webhooks.MAX_ENDPOINTS} webhook endpoints."

    for attempt in range(3):
        answers = _posted_at_once(creditor, clients, attempt)
        assert sorted(code for code, _ in answers) == [201, 400], answers
        assert [body for code, body in answers if code == 400] == [{"url": [limit]}]
        mine = WebhookEndpoint.objects.filter(creditor=creditor)
        assert mine.count() == webhooks.MAX_ENDPOINTS
        mine.order_by("-id").first().delete()  # room for one again, for the next attempt


def _posted_at_once(creditor, clients, attempt: int) -> list[tuple[int, dict]]:
    """Each client POSTs a new endpoint in its own thread (and database session), both held
    at the creditor's row by a third session until both wait there; (status, body) each."""
    holder = connections.create_connection("default")
    holder.set_autocommit(False)
    with holder.cursor() as cursor:
        cursor.execute("SELECT 1 FROM accounts_creditor WHERE id = %s FOR UPDATE", [creditor.pk])
    answers: list[tuple[int, dict]] = []
    errors: list[BaseException] = []

    def post(client, n: int) -> None:
        try:
            body = {"url": f"https://127.0.0.1/hooks/new-{attempt}-{n}"}
            response = client.post(ENDPOINTS, body, format="json")
            answers.append((response.status_code, response.json()))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(c, n)) for n, c in enumerate(clients)]
    for t in threads:
        t.start()
    _until_waiting_on_a_lock(holder, 2)
    holder.commit()
    holder.close()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    return answers


def _until_waiting_on_a_lock(holder, n: int, timeout: float = 10) -> None:
    """Wait until `n` other sessions of the test database wait on a lock (or `timeout`: with
    no lock to wait on, the requests race freely)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with holder.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] >= n:
                return
        time.sleep(0.02)
