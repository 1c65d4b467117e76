"""Admin sessions last a working day from the login and end with the browser; the debtor
portal's own idle timeout is left as it is."""

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

PASSWORD = "tally-ledger-orchard-51"


@pytest.fixture
def operator():
    return get_user_model().objects.create_superuser("ops", "ops@example.com", PASSWORD)


@pytest.fixture
def morning(time_machine):
    time_machine.move_to("2026-03-02 08:00:00+00:00", tick=False)
    return time_machine


def test_an_admin_session_ends_a_working_day_after_the_login(client, operator, morning, settings):
    assert settings.STAFF_SESSION_MAX_AGE_SECONDS == 9 * 60 * 60
    client.post("/admin/login/", {"username": "ops", "password": PASSWORD})
    for _ in range(8):  # busy all day: activity does not extend the session
        morning.shift(60 * 60)
        assert client.get("/admin/").status_code == 200

    morning.shift(60 * 60 + 1)

    for page, login in [("/admin/", "/admin/login/"), ("/django-admin/", "/django-admin/login/")]:
        response = client.get(page)
        assert response.status_code == 302 and response["Location"].startswith(login), page
    assert "_auth_user_id" not in client.session


def test_the_working_day_is_configurable(client, operator, morning, settings):
    settings.STAFF_SESSION_MAX_AGE_SECONDS = 60 * 60
    client.force_login(operator)
    assert client.get("/django-admin/").status_code == 200

    morning.shift(60 * 60 + 1)

    assert client.get("/django-admin/").status_code == 302


def test_the_admin_session_cookie_ends_with_the_browser_even_when_remembered(client, operator):
    response = client.post(
        "/admin/login/", {"username": "ops", "password": PASSWORD, "remember": "on"}
    )

    cookie = response.cookies["sessionid"]
    assert cookie.value and not cookie["expires"] and not cookie["max-age"]
    assert client.session.get_expire_at_browser_close()


def test_without_browser_close_the_cookie_lasts_until_the_end_of_the_working_day(
    client, operator, morning, settings
):
    settings.STAFF_SESSION_EXPIRE_AT_BROWSER_CLOSE = False

    response = client.post("/admin/login/", {"username": "ops", "password": PASSWORD})

    assert response.cookies["sessionid"]["max-age"] == 9 * 60 * 60
    assert client.session.get_expiry_age() == 9 * 60 * 60


def test_the_portal_idle_timeout_is_its_own(settings):
    assert settings.PORTAL_SESSION_IDLE_SECONDS == 30 * 60
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is False  # the global default is untouched
