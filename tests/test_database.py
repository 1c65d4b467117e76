"""Kept PostgreSQL connections and Django's health check (`CONN_HEALTH_CHECKS`), on a real
server."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.core.signals import request_started
from django.db import connection

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL backend"),
]


@pytest.fixture(autouse=True)
def _fresh_connection_after():
    yield
    connection.close()  # a test may leave it ended; the database's teardown connects anew


def _admin() -> psycopg.Connection:
    """A second connection to the test database."""
    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"], port=s["PORT"] or 5432, user=s["USER"], password=s["PASSWORD"],
        dbname=s["NAME"], autocommit=True,
    )  # fmt: skip


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _end(pid: int) -> None:
    """End a backend as an operator or a restart would, and wait until it is gone."""
    with _admin() as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
            assert time.monotonic() < deadline, "the ended backend never went away"
            time.sleep(0.01)


def test_a_healthy_connection_is_usable():
    assert connection.health_check_enabled
    _backend_pid()
    assert connection.is_usable() is True


def test_a_connection_the_server_ended_is_unusable():
    _end(_backend_pid())
    assert connection.is_usable() is False


def test_the_next_request_replaces_a_connection_the_server_ended():
    assert connection.settings_dict["CONN_MAX_AGE"] > 0  # kept between requests
    pid = _backend_pid()
    request_started.send(sender=None)  # Django's close_old_connections: the connection is kept
    assert connection.connection is not None and _backend_pid() == pid
    _end(pid)
    request_started.send(sender=None)
    assert _backend_pid() != pid  # checked before the first query, and connected again
