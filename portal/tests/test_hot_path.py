"""The overview page's hot path: the prepared accounts read and the session engine."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.sessions.backends import db as db_sessions
from django.http.cookie import parse_cookie
from django.template import engines
from django.test import Client
from django.utils import timezone, translation

from accounts.models import Account, AccountStatus
from accounts.tests.factories import place, row
from portal import selectors, views
from portal.sessions import SessionStore
from portal.tests.conftest import sign_in

pytestmark = pytest.mark.django_db

# Every form of the tag: the portal library must render each exactly as Django's own does.
_TRANSLATE_FORMS = [
    '{% translate "Balance" %}',
    '{% translate "Hello %(name)s, 100% sure" %}',
    "{% translate 'Overview' %}|{% translate \"Call me back\" %}",
    '{% translate "Balance" noop %}',
    '{% translate "Balance" as label %}[{{ label }}]',
    '{% translate "May" context "month name" %}',
    "{% translate text %}",
    "{% translate text|upper %}",
    '{% translate "<b>Sign out</b>" %}',
]


@pytest.mark.parametrize("source", _TRANSLATE_FORMS)
@pytest.mark.parametrize("language", ["en", "fr", "de"])
def test_portal_translate_tag_renders_exactly_as_djangos(source, language):
    engine = engines["django"]
    context = {"text": "History <x>"}
    with translation.override(language):
        django_output = engine.from_string("{% load i18n %}" + source).render(context)
        portal_output = engine.from_string("{% load i18n portal_i18n %}" + source).render(context)
    assert portal_output == django_output


def test_portal_translate_tag_follows_the_active_language():
    template = engines["django"].from_string('{% load i18n portal_i18n %}{% translate "Balance" %}')
    rendered = {}
    for language in ("de", "en", "fr", "de"):
        with translation.override(language):
            rendered.setdefault(language, set()).add(template.render({}))
    assert rendered == {"en": {"Balance"}, "fr": {"Solde"}, "de": {"Kontostand"}}


def test_kept_translations_give_way_to_new_catalogues(tmp_path, settings):
    from pathlib import Path

    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo
    from django.utils.autoreload import file_changed

    from portal.templatetags import portal_i18n

    template = engines["django"].from_string('{% load i18n portal_i18n %}{% translate "Balance" %}')
    with translation.override("fr"):
        assert template.render({}) == "Solde"
        catalog = Catalog(locale="fr")
        catalog.add("Balance", "Solde restant")
        (tmp_path / "fr" / "LC_MESSAGES").mkdir(parents=True)
        with open(tmp_path / "fr" / "LC_MESSAGES" / "django.mo", "wb") as mo:
            write_mo(mo, catalog)
    # A project catalogue first in LOCALE_PATHS wins over the apps' (Django reloads them).
    settings.LOCALE_PATHS = [str(tmp_path), *settings.LOCALE_PATHS]
    with translation.override("fr"):
        assert template.render({}) == "Solde restant"
        portal_i18n._translated[("fr", "Balance")] = "stale"
    # runserver's signal for a recompiled catalogue clears what was kept (and Django's own
    # receiver drops the active language, as it does there between requests).
    file_changed.send(sender=None, file_path=Path("locale/fr/LC_MESSAGES/django.mo"))
    with translation.override("fr"):
        assert template.render({}) == "Solde restant"
    file_changed.send(sender=None, file_path=Path("portal/views.py"))  # not a catalogue
    assert ("fr", "Balance") in portal_i18n._translated


@pytest.mark.parametrize("language", ["en", "fr", "de"])
def test_overview_status_label_is_the_status_display(account, language):
    with translation.override(language):
        for status in [*AccountStatus.values, "unknown"]:
            account.status = status
            assert views._status_label(status) == account.get_status_display()


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
