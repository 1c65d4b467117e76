"""Staff logins: guessing a password is slow on both admins' login pages, and a password has
to be long and uncommon."""

import logging

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

pytestmark = pytest.mark.django_db

PASSWORD = "tally-ledger-orchard-51"
LOGIN_PAGES = ["/admin/login/", "/django-admin/login/"]


@pytest.fixture
def operator():
    return get_user_model().objects.create_superuser("ops", "ops@example.com", PASSWORD)


def _sign_in(client, page: str, password: str, **extra):
    return client.post(page, {"username": "ops", "password": password}, **extra)


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_the_right_password_is_refused_after_too_many_wrong_ones(client, operator, page, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        wrong = _sign_in(client, page, "not-the-password")
        assert wrong.status_code in (200, 429) and not _signed_in(client)

    response = _sign_in(client, page, PASSWORD)

    assert response.status_code == 429
    assert not _signed_in(client)
    text = response.content.decode()
    assert "Too many failed sign-in attempts" in text
    assert f"Try again in {settings.STAFF_LOGIN_LOCKOUT_MINUTES} minutes" in text
    assert response["Retry-After"] == str(settings.STAFF_LOGIN_LOCKOUT_MINUTES * 60)


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_a_few_wrong_passwords_then_the_right_one_signs_in(client, operator, page, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _sign_in(client, page, "not-the-password")

    response = _sign_in(client, page, PASSWORD)

    assert response.status_code == 302 and _signed_in(client)


def test_failures_on_one_admin_count_on_the_other(client, operator, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "/admin/login/", "not-the-password")

    assert _sign_in(client, "/django-admin/login/", PASSWORD).status_code == 429


def test_behind_a_proxy_the_lock_follows_the_client_address(client, operator, settings):
    settings.PORTAL_CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    attacker = {"HTTP_X_FORWARDED_FOR": "203.0.113.7"}
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "/admin/login/", "not-the-password", **attacker)

    assert _sign_in(client, "/admin/login/", PASSWORD, **attacker).status_code == 429
    # The operator, behind the same proxy (same REMOTE_ADDR) but from another address, is not
    # locked out by someone else's guesses.
    colleague = {"HTTP_X_FORWARDED_FOR": "198.51.100.20"}
    assert _sign_in(client, "/admin/login/", PASSWORD, **colleague).status_code == 302


def test_the_lockout_ends_after_the_cool_off(client, operator, settings, time_machine):
    time_machine.move_to("2026-03-02 09:00:00+00:00", tick=False)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "/admin/login/", "not-the-password")
    assert _sign_in(client, "/admin/login/", PASSWORD).status_code == 429

    time_machine.shift(settings.AXES_COOLOFF_TIME.total_seconds() + 1)

    assert _sign_in(client, "/admin/login/", PASSWORD).status_code == 302


def test_login_failures_are_logged_without_the_username_or_address(
    client, operator, settings, caplog
):
    axes_log = logging.getLogger("axes")  # does not propagate to the root (settings.LOGGING)
    axes_log.addHandler(caplog.handler)
    try:
        with caplog.at_level("INFO", logger="axes"):
            for _ in range(settings.AXES_FAILURE_LIMIT + 1):
                _sign_in(client, "/admin/login/", "not-the-password")
    finally:
        axes_log.removeHandler(caplog.handler)

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "AXES" in logged  # the failures were logged ...
    assert "ops" not in logged and "127.0.0.1" not in logged  # ... without who or where


def test_a_password_shorter_than_12_characters_is_refused():
    with pytest.raises(ValidationError) as refused:
        validate_password("Kq8#vz!pL2w")  # 11 characters, otherwise strong

    assert any("at least 12 characters" in message for message in refused.value.messages)


def test_a_common_password_is_refused_even_when_long_enough():
    with pytest.raises(ValidationError) as refused:
        validate_password("qwerty123456")

    assert any("too common" in message for message in refused.value.messages)


def test_a_long_uncommon_password_is_accepted():
    validate_password(PASSWORD)


def test_the_django_admin_refuses_to_set_a_short_password(client, operator):
    client.force_login(operator)
    response = client.post(
        f"/django-admin/auth/user/{operator.pk}/password/",
        {"password1": "Kq8#vz!pL2w", "password2": "Kq8#vz!pL2w"},
    )

    assert response.status_code == 200  # the form again, with the reason
    assert "at least 12 characters" in response.content.decode()
    operator.refresh_from_db()
    assert operator.check_password(PASSWORD)


def test_a_login_without_a_client_address_still_works(client, operator):
    """force_login (and a server on a Unix socket) has no REMOTE_ADDR: the login is recorded
    without an address instead of failing on PostgreSQL's IP address column."""
    client.force_login(operator)

    assert client.get("/django-admin/").status_code == 200
