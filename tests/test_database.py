"""The PostgreSQL backend's health check (collections_site/db/postgresql), on a real server."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.core.signals import request_started
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper as DjangoDatabaseWrapper

from collections_site.db.postgresql.base import _readable

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL backend"),
]


@pytest.fixture(autouse=True)
def _fresh_connection_after():
    yield
    connection.close()  # a test may leave it ended; the database's teardown connects anew


def _admin() -> psycopg.Connection:
    """A second connection to the test database (notifications stay within a database)."""
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
    """End a backend as an operator or a restart would, and wait until its socket says so."""
    with _admin() as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
    deadline = time.monotonic() + 10
    while not _readable(connection.connection.fileno()):
        assert time.monotonic() < deadline, "the ended backend's socket never became readable"
        time.sleep(0.01)


def _asked_server(monkeypatch) -> list[bool]:
    """Record each time Django's own check (the `SELECT 1` round trip) runs, and its answer."""
    answers: list[bool] = []
    djangos = DjangoDatabaseWrapper.is_usable

    def recorded(self) -> bool:
        answers.append(djangos(self))
        return answers[-1]

    monkeypatch.setattr(DjangoDatabaseWrapper, "is_usable", recorded)
    return answers


def test_a_healthy_idle_connection_is_usable_without_a_round_trip(monkeypatch):
    assert connection.health_check_enabled
    _backend_pid()
    asked = _asked_server(monkeypatch)
    assert connection.is_usable() is True
    assert asked == []


def test_a_connection_the_server_ended_is_unusable(monkeypatch):
    _end(_backend_pid())
    asked = _asked_server(monkeypatch)
    assert connection.is_usable() is False
    assert asked == [False]  # the socket had something to say, so the server was asked


def test_something_unprompted_on_the_socket_means_asking_the_server(monkeypatch):
    pid = _backend_pid()
    with connection.cursor() as cursor:
        cursor.execute("LISTEN portal_health_check")
    with _admin() as admin:
        admin.execute("NOTIFY portal_health_check")
    deadline = time.monotonic() + 10
    while not _readable(connection.connection.fileno()):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    asked = _asked_server(monkeypatch)
    assert connection.is_usable() is True
    assert asked == [True]  # a notification, not an ending: the connection is kept
    assert _backend_pid() == pid
    with connection.cursor() as cursor:
        cursor.execute("UNLISTEN *")


def test_the_next_request_replaces_a_connection_the_server_ended():
    assert connection.settings_dict["CONN_MAX_AGE"] > 0  # kept between requests
    pid = _backend_pid()
    request_started.send(sender=None)  # Django's close_old_connections: the connection is kept
    assert connection.connection is not None and _backend_pid() == pid
    _end(pid)
    request_started.send(sender=None)
    assert _backend_pid() != pid  # checked before the first query, and connected again
