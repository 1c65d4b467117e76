"""Issuing and revoking keys in the Django admin (scoped by creditor) and by command, and the
demo key of `seed_demo`."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts.api_keys.models import ApiKey
from accounts.models import CreditorUser
from accounts.tests.factories import UserFactory, api_user

pytestmark = pytest.mark.django_db

ADD = "/django-admin/api_keys/apikey/add/"
LIST = "/django-admin/api_keys/apikey/"
KEY = re.compile(r"ck_[0-9a-f]{8}_[0-9a-f]{40}")


def _works(plaintext: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    return client.get("/api/v1/accounts/").status_code


def _staff(creditor=None, *, superuser: bool = False) -> Client:
    user = UserFactory(is_staff=True, is_superuser=superuser)
    if not superuser:
        user.user_permissions.set(
            Permission.objects.filter(
                content_type__app_label="api_keys", codename__contains="apikey"
            )
        )
    if creditor is not None:
        CreditorUser.objects.create(user=user, creditor=creditor)
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_shows_a_new_key_once_on_the_page_after_adding_it(creditor):
    staff = _staff(superuser=True)
    page = staff.post(ADD, {"creditor": creditor.pk, "name": "nightly sync", "expires_at_0": ""})
    assert page.status_code == 200, page.content.decode()[:2000]
    assert "no-store" in page["Cache-Control"]
    (plaintext,) = set(KEY.findall(page.content.decode()))
    key = ApiKey.objects.get()
    assert key.name == "nightly sync" and key.created_by.startswith("admin:")
    assert key.user.creditor_link.creditor == creditor  # the creditor's API user, made for it
    assert _works(plaintext) == 200
    for url in (LIST, f"{LIST}{key.pk}/change/", f"{LIST}{key.pk}/history/"):
        shown = staff.get(url).content.decode()
        assert key.prefix in shown and plaintext not in shown, url


def test_an_expiry_in_the_past_is_a_form_error(creditor):
    page = _staff(superuser=True).post(
        ADD,
        {
            "creditor": creditor.pk,
            "name": "x",
            "expires_at_0": "2020-01-01",
            "expires_at_1": "10:00",
        },
    )
    assert page.status_code == 200 and not ApiKey.objects.exists()
    assert "must be in the future" in page.content.decode()


def test_creditor_staff_issue_and_revoke_keys_of_their_own_creditor_only(creditor, other_creditor):
    _, mine = api_user(creditor)
    _, theirs = api_user(other_creditor)
    staff = _staff(creditor)
    form = staff.get(ADD).context["adminform"].form
    assert list(form.fields["creditor"].queryset) == [creditor]
    refused = staff.post(ADD, {"creditor": other_creditor.pk, "name": "sneaky"})
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    listed = {k.pk for k in staff.get(LIST).context["cl"].result_list}
    assert listed == set(
        ApiKey.objects.filter(user__creditor_link__creditor=creditor).values_list("pk", flat=True)
    )
    every = list(ApiKey.objects.values_list("pk", flat=True))
    staff.post(LIST, {"action": "revoke", "_selected_action": every})
    assert _works(mine) == 401
    assert _works(theirs) == 200  # not theirs to revoke


# --- Commands ---------------------------------------------------------------------------------


def test_api_key_create_prints_the_key_once_and_api_key_revoke_stops_it(creditor):
    out, err = StringIO(), StringIO()
    call_command(
        "api_key_create", creditor="acme", name="CI", expires_in_days=30, stdout=out, stderr=err
    )
    plaintext = out.getvalue().strip()
    assert KEY.fullmatch(plaintext)
    key = ApiKey.objects.get()
    assert key.prefix in err.getvalue() and plaintext not in err.getvalue()
    assert 29 <= (key.expires_at - key.created_at).days <= 30
    assert key.user.username == "acme-api"
    assert _works(plaintext) == 200
    # A second key acts as the same API user (rotation without downtime).
    call_command("api_key_create", creditor="acme", name="CI 2", stdout=StringIO(), stderr=err)
    assert ApiKey.objects.filter(user=key.user).count() == 2
    revoked = StringIO()
    call_command("api_key_revoke", key.prefix, stdout=revoked)
    assert "Revoked" in revoked.getvalue()
    assert _works(plaintext) == 401


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"creditor": "nobody", "name": "x"}, "No creditor"),
        ({"creditor": "acme", "name": " "}, "name"),
        ({"creditor": "acme", "name": "x", "expires_in_days": 0}, "1 to 3650"),
        ({"creditor": "acme", "name": "x", "expires_in_days": 10**9}, "1 to 3650"),
        ({"creditor": "acme\x00", "name": "x"}, "printable"),
        ({"creditor": "acme", "name": "x\x00"}, "control"),
        ({"creditor": "acme", "name": "x", "user": "nobody"}, "No user"),
    ],
)
def test_api_key_create_refuses_bad_input_with_a_message(creditor, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("api_key_create", stdout=StringIO(), stderr=StringIO(), **options)
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("prefix", ["ck_00000000", "nothing", "\x00"])
def test_api_key_revoke_of_an_unknown_prefix_is_an_error(db, prefix):
    with pytest.raises(CommandError):
        call_command("api_key_revoke", prefix, stdout=StringIO())


def _seed(**options) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def test_seed_demo_issues_a_fresh_demo_key_each_run_with_debug_on(settings):
    settings.DEBUG = True
    first = KEY.search(_seed().split("API key:")[1]).group()
    assert _works(first) == 200
    second = KEY.search(_seed().split("API key:")[1]).group()
    assert second != first
    assert _works(second) == 200
    assert _works(first) == 401  # the previous demo key is revoked


def test_seed_demo_issues_no_key_with_debug_off_unless_asked(settings, monkeypatch):
    settings.DEBUG = False
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "a-long-demo-passphrase")
    out = _seed()
    assert not KEY.search(out) and not ApiKey.objects.exists()
    assert "API key:       none issued with DEBUG off" in out
    asked = KEY.search(_seed(api_key=True)).group()
    assert _works(asked) == 200
