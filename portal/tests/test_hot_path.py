"""The overview page's hot path: the prepared accounts read (portal/accounts_read.py) and the
session engine."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.sessions.backends import db as db_sessions
from django.http.cookie import parse_cookie
from django.test import Client
from django.utils import timezone, translation

from accounts.models import Account, AccountStatus
from accounts.tests.factories import place, row
from portal import selectors
from portal.sessions import SessionStore
from portal.tests.conftest import sign_in
from portal.views.home import _status_label

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("language", ["en", "fr", "de"])
def test_overview_status_label_is_the_status_display(account, language):
    with translation.override(language):
        for status in [*AccountStatus.values, "unknown"]:
            account.status = status
            assert _status_label(status) == account.get_status_display()


def test_prepared_accounts_read_matches_the_orm(creditor):
    first, _ = place(creditor, row(1), row(2, debtor={"external_ref": "D-1"}))
    fast = selectors.accounts_of(debtor_id=first.debtor_id)
    slow = list(
        Account.objects.filter(debtor_id=first.debtor_id)
        .select_related("creditor", "debtor")
        .order_by("-placed_at")
    )
    slow.sort(key=lambda a: not a.is_open)
    assert [a.pk for a in fast] == [a.pk for a in slow]
    for f, s in zip(fast, slow, strict=True):
        for model_f, model_s in ((f, s), (f.debtor, s.debtor), (f.creditor, s.creditor)):
            for field in type(model_f)._meta.concrete_fields:
                assert getattr(model_f, field.attname) == getattr(model_s, field.attname), field
    assert fast[0].debtor is fast[1].debtor and fast[0].debtor.creditor is fast[0].creditor


def test_overview_reads_the_session_and_the_accounts_in_two_queries(
    client, account, django_assert_num_queries
):
    sign_in(client, account.debtor_id)
    with django_assert_num_queries(2):
        assert client.get("/p/").status_code == 200


def test_session_engine_reads_the_database_every_time_and_honours_expiry(client, account):
    assert settings.SESSION_ENGINE == "portal.sessions"
    assert issubclass(SessionStore, db_sessions.SessionStore)
    sign_in(client, account.debtor_id)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert SessionStore(key).load()["portal"]["v"] is True
    from django.contrib.sessions.models import Session

    Session.objects.filter(pk=key).update(expire_date=timezone.now())
    assert SessionStore(key).load() == {}  # expired in the database: gone at once
    assert Client().get("/p/").status_code == 403


def test_signing_out_ends_the_session_for_every_worker(client, account):
    sign_in(client, account.debtor_id)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.post("/p/signout/")
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = cookie
    assert replay.get("/p/").status_code == 403


@pytest.mark.parametrize("engine", ["portal.sessions", "portal.sessions.cached_db"])
def test_session_keys_django_never_issues_are_no_session_and_no_query(
    engine, django_assert_num_queries
):
    store_class = import_module(engine).SessionStore
    # A quoted cookie value's "\000" reaches Django as a NUL byte, which PostgreSQL refuses.
    (key,) = parse_cookie('sessionid="abcdefgh\\000ijklmnop"').values()
    assert "\x00" in key
    for odd in (key, "ABCDEFGHIJKLMNOP", "abcdefgh ijklmnop"):
        store = store_class(odd)
        assert store.session_key is None
        with django_assert_num_queries(0):  # how the session middleware reads it
            assert store.get("portal") is None
    assert store_class("abcdefgh0123456789").session_key == "abcdefgh0123456789"


def test_a_nul_byte_session_cookie_is_no_session(client, account):
    client.cookies[settings.SESSION_COOKIE_NAME] = "abcdefgh\x00ijklmnop"
    assert client.get("/p/").status_code == 403
