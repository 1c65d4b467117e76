"""Two-factor login for staff: the password alone does not open either admin when required."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.staff import twofactor

pytestmark = pytest.mark.django_db

PASSWORD = "tally-ledger-orchard-51"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def required(settings):
    settings.STAFF_2FA_REQUIRED = True


@pytest.fixture
def operator():
    return get_user_model().objects.create_superuser("ops", "ops@example.com", PASSWORD)


@pytest.fixture
def enrolled(operator):
    device = twofactor.authenticator_pending(operator)
    codes = twofactor.authenticator_confirm(device=device)
    return device, codes


def code_of(device: TOTPDevice) -> str:
    """The code the user's authenticator app shows now."""
    device.refresh_from_db()
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return f"{code:06d}"


def sign_in(client, page="/admin/login/"):
    response = client.post(page, {"username": "ops", "password": PASSWORD})
    assert response.status_code == 302, "the password is accepted"
    return response


def test_the_password_alone_does_not_reach_either_admin(client, required, enrolled):
    sign_in(client)

    for page in [
        "/admin/",
        "/admin/messaging/outbox/",
        "/django-admin/",
        "/django-admin/accounts/debtor/",
    ]:
        response = client.get(page)
        assert response.status_code == 302, page
        assert response["Location"].startswith("/admin/2fa/verify/?next="), page


def test_the_django_admin_login_also_asks_for_the_code(client, required, enrolled):
    login = sign_in(client, "/django-admin/login/?next=/django-admin/")

    landing = client.get(login["Location"])
    assert landing.status_code == 302
    assert landing["Location"] == "/admin/2fa/verify/?next=%2Fdjango-admin%2F"


def test_a_valid_code_opens_both_admins(client, required, enrolled):
    device, _ = enrolled
    sign_in(client)
    page = client.get("/admin/2fa/verify/?next=/django-admin/")
    assert page.status_code == 200 and b"Enter your authentication code" in page.content

    response = client.post(
        "/admin/2fa/verify/", {"code": code_of(device), "next": "/django-admin/"}
    )

    assert response.status_code == 302 and response["Location"] == "/django-admin/"
    assert client.get("/django-admin/").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_a_wrong_code_is_refused_with_a_reason(client, required, enrolled):
    device, _ = enrolled
    sign_in(client)
    wrong = f"{(int(code_of(device)) + 1) % 1_000_000:06d}"

    response = client.post("/admin/2fa/verify/", {"code": wrong})

    assert response.status_code == 400
    assert "That code is not right" in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_repeated_wrong_codes_are_throttled(client, required, enrolled):
    device, _ = enrolled
    sign_in(client)
    for _ in range(3):
        client.post("/admin/2fa/verify/", {"code": "000000"})

    response = client.post("/admin/2fa/verify/", {"code": code_of(device)})

    assert response.status_code == 400
    assert "Too many wrong codes in a row" in response.content.decode()


def test_a_recovery_code_works_once(client, required, enrolled):
    _, codes = enrolled
    sign_in(client)
    assert client.post("/admin/2fa/verify/", {"code": codes[0].upper()}).status_code == 302
    assert client.get("/admin/").status_code == 200

    client.post("/admin/logout/")
    sign_in(client)
    again = client.post("/admin/2fa/verify/", {"code": codes[0]})

    assert again.status_code == 400
    assert twofactor.recovery_codes_left(get_user_model().objects.get(username="ops")) == 9


def test_a_superuser_without_an_authenticator_must_enrol(client, required, operator):
    sign_in(client)
    assert client.get("/admin/")["Location"] == "/admin/2fa/setup/?next=%2Fadmin%2F"

    page = client.get("/admin/2fa/setup/?next=/admin/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "data:image/svg+xml;base64," in text  # the QR code, drawn here: no outside service
    assert page.context["setup_key"]
    device = TOTPDevice.objects.get(user=operator, confirmed=False)
    assert client.get("/admin/").status_code == 302  # not yet

    done = client.post("/admin/2fa/setup/", {"code": code_of(device), "next": "/admin/"})

    assert done.status_code == 200
    codes = done.context["codes"]
    assert len(codes) == 10 and all(code in done.content.decode() for code in codes)
    assert client.get("/admin/").status_code == 200
    assert TOTPDevice.objects.get(user=operator).confirmed


def test_enrolment_refuses_a_wrong_code(client, required, operator):
    sign_in(client)
    client.get("/admin/2fa/setup/")

    response = client.post("/admin/2fa/setup/", {"code": "12"})

    assert response.status_code == 400
    assert "That code is not right" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=operator, confirmed=True).exists()


def test_someone_who_knows_only_the_password_cannot_replace_the_authenticator(
    client, required, enrolled
):
    sign_in(client)

    response = client.get("/admin/2fa/setup/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/2fa/verify/")


def test_new_recovery_codes_replace_the_old_ones(client, required, enrolled):
    device, old = enrolled
    sign_in(client)
    client.post("/admin/2fa/verify/", {"code": code_of(device)})

    response = client.post("/admin/2fa/recovery-codes/")

    assert response.status_code == 200
    new = response.context["codes"]
    assert len(new) == 10 and not set(new) & set(old)


def test_when_not_required_the_password_alone_reaches_the_admin(client, settings, operator):
    settings.STAFF_2FA_REQUIRED = False
    sign_in(client)

    assert client.get("/admin/").status_code == 200
    assert client.get("/django-admin/").status_code == 200


def test_when_not_required_someone_who_enrolled_is_still_asked(client, settings, enrolled):
    settings.STAFF_2FA_REQUIRED = False
    sign_in(client)

    assert client.get("/admin/")["Location"].startswith("/admin/2fa/verify/")


def test_the_next_address_cannot_point_off_site(client, required, enrolled):
    device, _ = enrolled
    sign_in(client)

    response = client.post(
        "/admin/2fa/verify/", {"code": code_of(device), "next": "https://evil.example/"}
    )

    assert response["Location"] == "/admin/"


def test_the_wagtail_account_menu_links_to_the_two_factor_settings(client, operator):
    client.force_login(operator)

    assert b"/admin/2fa/" in client.get("/admin/account/").content
    assert client.get("/admin/2fa/").status_code == 200


def _settings(env: dict[str, str]) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "STAFF_2FA_REQUIRED"}}
    run = subprocess.run(
        [sys.executable, "-c",
         "import django, json; from django.conf import settings; django.setup(); print(json.dumps("
         "[settings.STAFF_2FA_REQUIRED, settings.STAFF_SESSION_MAX_AGE_SECONDS]))"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "collections_site.settings.base", "ENV_FILE": "",
             "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnop",
             **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_two_factor_is_required_by_default_without_debug_and_optional_in_the_demo():
    assert _settings({}) == [True, 9 * 60 * 60]
    assert _settings({"DEBUG": "1"})[0] is False
    assert _settings({"DEBUG": "1", "STAFF_2FA_REQUIRED": "1"})[0] is True


def test_after_an_administrator_deletes_a_lost_authenticator_the_user_enrols_again(
    client, required, enrolled
):
    device, old_codes = enrolled
    device.delete()  # Django admin, TOTP devices: the phone was lost
    sign_in(client)

    assert client.get("/admin/")["Location"].startswith("/admin/2fa/setup/")
    client.get("/admin/2fa/setup/")
    fresh = TOTPDevice.objects.get(user=device.user, confirmed=False)
    done = client.post("/admin/2fa/setup/", {"code": code_of(fresh)})

    assert done.status_code == 200
    assert not set(done.context["codes"]) & set(old_codes)  # the old codes stop working
