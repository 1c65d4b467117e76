"""System checks of the portal's settings: portal.W001 (a proxy in front, no client-IP header)
and portal.E001 (lockout settings that would never lock); and the runtime log line for a
forwarded request while the header is unset."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.checks import Tags, run_checks
from django.test import Client

from portal import access
from portal.tests.conftest import open_link, verify

pytestmark = pytest.mark.django_db

BEHIND_PROXY = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.7"}


def test_a_forwarded_request_without_the_header_is_logged_once_without_the_address(
    account, settings, caplog, monkeypatch
):
    settings.PORTAL_CLIENT_IP_HEADER = ""
    monkeypatch.setattr(access, "_forwarded_logged", False)
    for _ in range(2):
        c = Client(**BEHIND_PROXY)
        open_link(c, account.debtor_id)
        verify(c, postal="99999")
    logged = [r.getMessage() for r in caplog.records if "portal.W001" in r.getMessage()]
    assert len(logged) == 1
    assert "203.0.113.7" not in caplog.text and "10.0.0.2" not in caplog.text


@pytest.mark.parametrize(
    ("config", "fires"),
    [
        ({"DEBUG": False}, True),  # production: HTTPS comes from the proxy's X-Forwarded-Proto
        ({"DEBUG": True}, False),  # the base settings' SECURE_PROXY_SSL_HEADER alone, in dev
        ({"DEBUG": True, "USE_X_FORWARDED_HOST": True}, True),
        ({"DEBUG": False, "SECURE_PROXY_SSL_HEADER": None}, False),
        ({"DEBUG": False, "PORTAL_CLIENT_IP_HEADER": "HTTP_X_FORWARDED_FOR"}, False),
        ({"DEBUG": False, "PORTAL_CLIENT_IP_HEADER": "REMOTE_ADDR"}, False),
    ],
)
def test_the_system_check_warns_behind_a_proxy_without_the_client_ip_header(
    settings, config, fires
):
    settings.PORTAL_CLIENT_IP_HEADER = ""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    for name, value in config.items():
        setattr(settings, name, value)
    found = [m.id for m in run_checks(tags=[Tags.security]) if m.id.startswith("portal.")]
    assert found == (["portal.W001"] if fires else [])


def test_manage_py_check_warns_with_production_settings_and_no_client_ip_header():
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "PORTAL_CLIENT_IP_HEADER"}}
    run = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(django_settings.BASE_DIR),
        env={
            **env,
            "DJANGO_SETTINGS_MODULE": "collections_site.settings.base",
            "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnop",
            "ALLOWED_HOSTS": "collect.example.com",
            "ENV_FILE": "",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr  # a warning: the site still starts
    assert "(portal.W001)" in run.stdout + run.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [("PORTAL_LOCKOUT_STEPS_MINUTES", []), ("PORTAL_LOCKOUT_STEPS_MINUTES", [15, 0]),
     ("PORTAL_LOCKOUT_ATTEMPTS", 0)],
)  # fmt: skip
def test_lockout_settings_that_would_never_lock_stop_the_site(settings, name, value):
    from portal import checks

    setattr(settings, name, value)
    assert [m.id for m in checks.lockout_settings_check(None)] == ["portal.E001"]
