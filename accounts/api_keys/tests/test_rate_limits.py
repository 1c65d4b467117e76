"""Rate limits per API key: the request past the limit answers 429 with `Retry-After` and a JSON
body saying when to retry; other keys, and placements, count on their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.api_keys import services
from accounts.tests.factories import api_user, row

pytestmark = pytest.mark.django_db

ACCOUNTS = "/api/v1/accounts/"
PLACEMENTS = "/api/v1/placements/"
NOW = datetime(2026, 3, 10, 15, 0, 30, tzinfo=UTC)  # 30 s into a minute


@pytest.fixture
def rates(settings):
    """Sets the API's rates for one test (the throttle reads them on every request)."""
    cache.clear()

    def set_rates(**rates: str | None) -> None:
        defaults = {
            "api_burst": None,
            "api_sustained": None,
            "placements_burst": None,
            "placements_sustained": None,
        }
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**defaults, **rates},
        }

    yield set_rates
    cache.clear()


def _client(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    return client


def test_the_request_past_the_burst_limit_is_a_429_saying_when_to_retry(creditor, rates):
    rates(api_burst="3/min")
    _, plaintext = api_user(creditor)
    client = _client(plaintext)
    with time_machine.travel(NOW, tick=False):
        assert [client.get(ACCOUNTS).status_code for _ in range(3)] == [200, 200, 200]
        refused = client.get(ACCOUNTS)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "30"
    assert refused.json() == {
        "detail": "Too many requests with this API key: at most 3 a minute. Retry after "
        "2026-03-10T15:01:00Z.",
        "retry_after": 30,
        "retry_at": "2026-03-10T15:01:00Z",
        "limit": 3,
        "period_seconds": 60,
    }
    with time_machine.travel(NOW + timedelta(seconds=30), tick=False):
        assert client.get(ACCOUNTS).status_code == 200  # the next minute


def test_another_key_is_not_affected(creditor, other_creditor, rates):
    rates(api_burst="2/min")
    user, first = api_user(creditor)
    _key, second = services.api_key_issue(user=user, name="second key")
    _, theirs = api_user(other_creditor)
    with time_machine.travel(NOW, tick=False):
        for _ in range(2):
            _client(first).get(ACCOUNTS)
        assert _client(first).get(ACCOUNTS).status_code == 429
        assert _client(second).get(ACCOUNTS).status_code == 200
        assert _client(theirs).get(ACCOUNTS).status_code == 200


def test_the_sustained_limit_holds_until_the_day_ends(creditor, rates):
    rates(api_burst="100/min", api_sustained="4/day")
    _, plaintext = api_user(creditor)
    client = _client(plaintext)
    for minute in range(4):
        with time_machine.travel(NOW + timedelta(minutes=minute), tick=False):
            assert client.get(ACCOUNTS).status_code == 200
    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        refused = client.get(ACCOUNTS)
    assert refused.status_code == 429
    assert refused.json()["retry_at"] == "2026-03-11T00:00:00Z"
    assert int(refused["Retry-After"]) == refused.json()["retry_after"] == 6 * 3600 + 59 * 60 + 30
    with time_machine.travel(datetime(2026, 3, 11, 0, 0, 1, tzinfo=UTC), tick=False):
        assert client.get(ACCOUNTS).status_code == 200


def test_requests_refused_by_the_burst_limit_do_not_use_up_the_day(creditor, rates):
    rates(api_burst="2/min", api_sustained="3/day")
    _, plaintext = api_user(creditor)
    client = _client(plaintext)
    with time_machine.travel(NOW, tick=False):
        statuses = [client.get(ACCOUNTS).status_code for _ in range(10)]
    assert statuses == [200, 200] + [429] * 8
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        assert client.get(ACCOUNTS).status_code == 200  # the third of the day


def test_placements_are_counted_apart_from_reads(creditor, rates):
    rates(api_burst="2/min", placements_burst="1/min")
    _, plaintext = api_user(creditor)
    client = _client(plaintext)
    with time_machine.travel(NOW, tick=False):
        assert [client.get(ACCOUNTS).status_code for _ in range(3)] == [200, 200, 429]
        placed = client.post(PLACEMENTS, {"accounts": [row(1)]}, format="json")
        assert placed.status_code == 200
        again = client.post(PLACEMENTS, {"accounts": [row(2)]}, format="json")
    assert again.status_code == 429
    assert again.json()["detail"].startswith("Too many placements with this API key: at most 1")


def test_the_default_rates_let_a_creditor_sync_a_million_accounts(settings):
    from accounts.throttling import parse_rate

    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    # A million accounts read in pages of 1,000 ...
    assert parse_rate(rates["api_burst"])[0] >= 60
    assert parse_rate(rates["api_sustained"]) == (5000, 86400)
    # ... or placed in requests of 10,000 rows, several times a day.
    assert parse_rate(rates["placements_burst"])[0] * 10_000 >= 100_000
    assert parse_rate(rates["placements_sustained"])[0] * 10_000 >= 1_000_000
