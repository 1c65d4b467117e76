"""API keys: shown once, stored as a hash, accepted as `Token` or `Bearer`, refused with a clear
401 when wrong, expired or revoked; last use written at most once a minute; DRF tokens migrated
with their secrets."""

from __future__ import annotations

import hashlib
import importlib
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.api_keys import services
from accounts.api_keys.models import ApiKey
from accounts.tests.factories import UserFactory, api_user

pytestmark = pytest.mark.django_db

ACCOUNTS = "/api/v1/accounts/"
NOW = datetime(2026, 3, 10, 15, 0, 30, tzinfo=UTC)


def _client(header: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    return client


def test_a_key_is_shown_once_and_stored_as_its_hash_only(creditor):
    user, plaintext = api_user(creditor)
    key = ApiKey.objects.get(user=user)
    assert plaintext.startswith(key.prefix + "_") and len(plaintext) == 52
    assert key.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    stored = [str(value) for value in ApiKey.objects.filter(pk=key.pk).values().get().values()]
    assert not any(plaintext[len(key.prefix) + 1 :] in value for value in stored)


@pytest.mark.parametrize("scheme", ["Token", "Bearer", "bearer", "TOKEN"])
def test_a_key_is_accepted_as_token_or_bearer(creditor, scheme):
    _user, plaintext = api_user(creditor)
    assert _client(f"{scheme} {plaintext}").get(ACCOUNTS).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Token ck_00000000_" + "0" * 40,  # well formed, unknown
        "Bearer 0123456789abcdef0123456789abcdef01234567",  # a token's shape, unknown
        "Token ck_short",
        "Token " + "x" * 41,
        "Token a b",
        "Token",
        "Bearer \u00e9t\u00e9",
        "Token \x00",
    ],
)
def test_a_wrong_key_is_a_401_never_a_500(creditor, header):
    response = _client(header).get(ACCOUNTS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
    assert response.json()["detail"]


def test_a_key_with_one_character_changed_is_refused(creditor):
    _user, plaintext = api_user(creditor)
    altered = plaintext[:-1] + ("0" if plaintext[-1] != "0" else "1")
    response = _client(f"Token {altered}").get(ACCOUNTS)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key."}


def test_a_revoked_key_is_refused_with_a_clear_message_and_the_other_keys_work(creditor):
    user, old = api_user(creditor)
    _key, new = services.api_key_issue(user=user, name="rotation")  # rotation: both work
    assert _client(f"Token {old}").get(ACCOUNTS).status_code == 200
    assert _client(f"Token {new}").get(ACCOUNTS).status_code == 200
    services.api_key_revoke(key=ApiKey.objects.get(name="test key"), actor="test")
    refused = _client(f"Token {old}").get(ACCOUNTS)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    assert _client(f"Token {new}").get(ACCOUNTS).status_code == 200


def test_an_expired_key_is_refused_with_a_clear_message(creditor):
    user, _ = api_user(creditor)
    with time_machine.travel(NOW, tick=False):
        _key, plaintext = services.api_key_issue(
            user=user, name="short", expires_at=NOW + timedelta(days=1)
        )
        assert _client(f"Token {plaintext}").get(ACCOUNTS).status_code == 200
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        refused = _client(f"Token {plaintext}").get(ACCOUNTS)
    assert refused.status_code == 401
    assert refused.json() == {
        "detail": "This API key expired at 2026-03-11T15:00:30Z; use another of your keys, "
        "or ask for a new one."
    }


def test_a_key_of_an_inactive_user_is_refused(creditor):
    user, plaintext = api_user(creditor)
    user.is_active = False
    user.save()
    assert _client(f"Token {plaintext}").get(ACCOUNTS).status_code == 401


def test_an_expiry_in_the_past_and_a_blank_name_are_refused(creditor):
    user = UserFactory()
    with pytest.raises(services.ApiKeyError, match="future"):
        services.api_key_issue(user=user, name="x", expires_at=datetime(2020, 1, 1, tzinfo=UTC))
    with pytest.raises(services.ApiKeyError, match="name"):
        services.api_key_issue(user=user, name="  ")
    with pytest.raises(services.ApiKeyError, match="control"):
        services.api_key_issue(user=user, name="a\x00b")


def _updates_of_keys(queries) -> int:
    return sum(
        1 for q in queries if q["sql"].startswith("UPDATE") and "api_keys_apikey" in q["sql"]
    )


def test_last_use_is_written_at_most_once_a_minute(creditor):
    user, plaintext = api_user(creditor)
    client = _client(f"Bearer {plaintext}")
    with time_machine.travel(NOW, tick=False):
        with CaptureQueriesContext(connection) as first:
            client.get(ACCOUNTS)
        with CaptureQueriesContext(connection) as again:
            for _ in range(5):
                client.get(ACCOUNTS)
    assert _updates_of_keys(first.captured_queries) == 1
    assert _updates_of_keys(again.captured_queries) == 0
    assert ApiKey.objects.get(user=user).last_used_at == NOW
    with time_machine.travel(NOW + timedelta(seconds=61), tick=False):
        client.get(ACCOUNTS)
    assert ApiKey.objects.get(user=user).last_used_at == NOW + timedelta(seconds=61)


# --- DRF tokens become keys -------------------------------------------------------------------

_migration = importlib.import_module("accounts.api_keys.migrations.0002_tokens_to_keys")


@pytest.fixture
def token_table():
    """The table DRF's authtoken app made, as an existing database still has it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "created timestamp NOT NULL, user_id integer NOT NULL)"
        )
    return "authtoken_token"


def _insert_token(key: str, user, created: datetime) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            [key, created.replace(tzinfo=None), user.pk],
        )


def test_each_drf_token_becomes_a_key_with_the_same_secret(creditor, token_table):
    from django.apps import apps

    user, _ = api_user(creditor)
    ApiKey.objects.all().delete()
    other = UserFactory()
    token = "0123456789abcdef0123456789abcdef01234567"
    twin = "0123456789abcdefffffffffffffffffffffffff"  # the same first 8 digits
    _insert_token(token, user, datetime(2025, 5, 1, 12, 0))
    _insert_token(twin, other, datetime(2025, 6, 1, 12, 0))

    _migration.tokens_to_keys(apps, SimpleNamespace(connection=connection))

    key = ApiKey.objects.get(user=user)
    assert key.prefix == "01234567" and key.created_at == datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    assert key.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert _client(f"Token {token}").get(ACCOUNTS).status_code == 200
    assert _client(f"Bearer {token}").get(ACCOUNTS).status_code == 200
    # The twin's user is bound to no creditor: known, but forbidden, as before.
    assert _client(f"Token {twin}").get(ACCOUNTS).status_code == 403
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0  # no key left in the clear


def test_without_the_token_table_the_migration_does_nothing(db):
    from django.apps import apps

    _migration.tokens_to_keys(apps, SimpleNamespace(connection=connection))
    assert not ApiKey.objects.exists()
