"""The site's entry points and settings, seen from outside."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.django_db


def test_wagtail_admin_and_django_admin_are_mounted(client):
    wagtail = client.get("/admin/", follow=True)
    assert wagtail.status_code == 200 and b"wagtail" in wagtail.content.lower()
    django_admin = client.get("/django-admin/", follow=True)
    assert django_admin.status_code == 200 and b"Django" in django_admin.content


def test_openapi_schema_and_its_ui_are_served_without_a_cdn(client):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert "/api/v1/placements/" in paths and "/api/v1/accounts/{external_ref}/recall/" in paths
    ui = client.get("/api/docs/")
    assert ui.status_code == 200
    assert b"cdn" not in ui.content.lower()
    assert b"/static/drf_spectacular_sidecar/" in ui.content


def _settings_in_subprocess(env: dict[str, str], expr: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY"}}  # fmt: skip
    code = (
        "import django, json; from django.conf import settings; django.setup(); "
        f"print(json.dumps({expr}, default=str))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "collections_site.settings.base", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_database_url_and_redis_url_sqlite_locmem_and_orm_broker():
    run = _settings_in_subprocess(
        {"DEBUG": "1"},
        "[settings.DATABASES['default']['ENGINE'], settings.CACHES['default']['BACKEND'],"
        " settings.Q_CLUSTER.get('orm'), 'redis' in settings.Q_CLUSTER, settings.SESSION_ENGINE]",
    )
    assert run.returncode == 0, run.stderr
    engine, cache, orm, has_redis, sessions = json.loads(run.stdout)
    # Database sessions (Django's engine refusing keys it never issues), never a per-process
    # cache.
    assert sessions == "portal.sessions"
    assert engine == "django.db.backends.sqlite3"
    assert cache.endswith("LocMemCache")
    assert orm == "default" and has_redis is False


def test_with_redis_url_redis_cache_and_broker_and_no_orm_key():
    run = _settings_in_subprocess(
        {
            "DEBUG": "1",
            "REDIS_URL": "redis://127.0.0.1:6379/3",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/x",
        },
        "[settings.DATABASES['default']['ENGINE'], settings.CACHES['default']['BACKEND'],"
        " 'orm' in settings.Q_CLUSTER, settings.Q_CLUSTER.get('redis'), settings.SESSION_ENGINE]",
    )
    assert run.returncode == 0, run.stderr
    engine, cache, has_orm, redis, sessions = json.loads(run.stdout)
    assert sessions.endswith("cached_db")  # shared cache: safe to read sessions through it
    assert engine == "django.db.backends.postgresql"
    assert cache.endswith("RedisCache")
    # The broker's connection times out instead of hanging when Redis does not answer.
    assert has_orm is False
    assert redis == "redis://127.0.0.1:6379/3?socket_connect_timeout=2&socket_timeout=5"


def test_a_redis_url_with_its_own_timeouts_keeps_them():
    url = "redis://127.0.0.1:6379/3?socket_timeout=9"
    run = _settings_in_subprocess(
        {"DEBUG": "1", "REDIS_URL": url}, "settings.Q_CLUSTER.get('redis')"
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == url


def test_secret_key_is_required_when_not_debugging():
    run = _settings_in_subprocess({}, "settings.DEBUG")
    assert run.returncode != 0
    assert "SECRET_KEY must be set" in run.stderr


def test_debug_is_off_unless_asked_for():
    run = _settings_in_subprocess({"SECRET_KEY": "x" * 60}, "settings.DEBUG")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) is False


def test_check_deploy_is_clean_with_production_settings():
    # Not the test run's own: DEBUG and REDIS_URL from a developer's shell, and the
    # DJANGO_ALLOW_ASYNC_UNSAFE the browser tests set for their Playwright thread (async.E001
    # whenever one of them ran earlier in the same process).
    test_only = {"DEBUG", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in test_only}
    run = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "collections_site.settings.base",
            "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnop",
            "ALLOWED_HOSTS": "collect.example.com",
            "SITE_URL": "https://collect.example.com",
            # Behind the proxy production runs behind (portal.W001 without it).
            "PORTAL_CLIENT_IP_HEADER": "HTTP_X_FORWARDED_FOR",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no issues" in run.stdout
