"""Finding a debtor (collections_site/casework/search.py): by account or debtor reference,
name, e-mail or phone, in the Debtors list's search box and from the admin's search page,
never across creditors. PostgreSQL adds misspelt names (trigram similarity) on its GIN
indexes; the substring fallback that other databases use is exercised here too, on the same
database, by switching the PostgreSQL branch off."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import Account, Debtor
from accounts.tests.factories import UserFactory, place, row, staff_client
from collections_site.casework import search

pytestmark = pytest.mark.django_db

URL = "/admin/casework/debtors/"
SEARCH = reverse("wagtailadmin_pages:search")


@pytest.fixture
def people(creditor, other_creditor):
    ada, grace = place(
        creditor,
        row(1, debtor={"external_ref": "D-ADA", "first_name": "Ada", "last_name": "Lovelace",
                       "email": "ada@analytical.example", "phone": "+16175550123"}),
        row(2, debtor={"external_ref": "D-GRACE", "first_name": "Grace", "last_name": "Hopper",
                       "email": "grace@cobol.example", "phone": "+16175559876"}),
    )  # fmt: skip
    (twin,) = place(
        other_creditor,
        row(3, debtor={"external_ref": "D-TWIN", "first_name": "Ada", "last_name": "Lovelace",
                       "email": "ada@elsewhere.example", "phone": "+16175550123"}),
    )  # fmt: skip
    return ada.debtor, grace.debtor, twin.debtor


@pytest.fixture(params=["database", "fallback"])
def backend(request, monkeypatch):
    """Each test twice: with this database's own search, and with the `icontains` fallback."""
    if request.param == "fallback":
        monkeypatch.setattr(search, "_postgres", lambda: False)
    return request.param


def _found(queryset_or_client, query: str) -> list[str]:
    if isinstance(queryset_or_client, Debtor.objects.none().__class__):
        return [d.external_ref for d in search.debtors_search(queryset_or_client, query)]
    page = queryset_or_client.get(URL, {"q": query}).content.decode()
    return [ref for ref in ("D-ADA", "D-GRACE", "D-TWIN") if re.search(rf">\s*{ref}\s*<", page)]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("D-ADA", ["D-ADA"]),  # the debtor's reference
        ("ACC-2", ["D-GRACE"]),  # an account's reference
        ("acc-2", ["D-GRACE"]),  # in any case
        ("Lovelace", ["D-ADA"]),
        ("ada lovelace", ["D-ADA"]),  # first and last name, any order of words
        ("Lovelace Ada", ["D-ADA"]),
        ("hopp", ["D-GRACE"]),  # part of a name
        ("grace@cobol.example", ["D-GRACE"]),
        ("COBOL.EXAMPLE", ["D-GRACE"]),
        ("(617) 555-9876", ["D-GRACE"]),  # a phone as people write it
        ("+1 617 555 9876", ["D-GRACE"]),
        ("617.555.0123", ["D-ADA"]),
        ("Babbage", []),
        ("555", []),  # too few digits to be a phone number; in no name or address
    ],
)
def test_a_debtor_is_found_by_reference_name_email_or_phone(people, backend, query, expected):
    mine = Debtor.objects.filter(creditor=people[0].creditor)
    assert sorted(_found(mine, query)) == expected


def test_a_misspelt_name_is_found_on_postgresql_only(people, backend):
    mine = Debtor.objects.filter(creditor=people[0].creditor)
    found = _found(mine, "Lovelase")
    if connection.vendor == "postgresql" and backend == "database":
        assert found == ["D-ADA"]
    else:
        assert found == []


def test_an_exact_reference_comes_first(people, creditor, backend):
    place(creditor, row(9, debtor={"external_ref": "D-ADA-2", "first_name": "Ada"}))
    mine = Debtor.objects.filter(creditor=creditor)
    assert _found(mine, "D-ADA")[0] == "D-ADA"
    assert set(_found(mine, "D-ADA")) == {"D-ADA", "D-ADA-2"}
    assert _found(mine, "ACC-9") == ["D-ADA-2"]


def test_the_list_search_never_crosses_creditors(people, creditor, other_creditor, backend):
    assert _found(staff_client(creditor), "Ada Lovelace") == ["D-ADA"]
    assert _found(staff_client(other_creditor), "Ada Lovelace") == ["D-TWIN"]
    assert _found(staff_client(other_creditor), "+16175550123") == ["D-TWIN"]
    assert _found(staff_client(other_creditor), "D-GRACE") == []
    assert _found(staff_client(other_creditor), "grace@cobol.example") == []
    assert _found(staff_client(other_creditor), "ACC-2") == []  # an account of another creditor
    assert sorted(_found(staff_client(agency=True), "lovelace")) == ["D-ADA", "D-TWIN"]


def _sidebar_search(client) -> str | None:
    """Where the admin sidebar's search box sends its query (Wagtail: the first search area
    the user may see)."""
    page = client.get(reverse("casework_payments:index")).content.decode()
    found = re.search(r'"wagtail.sidebar.SearchModule", "_args": \["([^"]*)"\]', page)
    return found and found.group(1)


def test_the_admin_search_box_searches_debtors(people, creditor):
    client = staff_client(creditor)
    assert _sidebar_search(client) == URL
    # The admin's search page offers the same query on the debtors.
    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert _sidebar_search(admin) == URL
    page = admin.get(SEARCH, {"q": "Lovelace"}).content.decode()
    assert f'href="{URL}?q=Lovelace"' in page
    # A user who may not look at debtors is sent elsewhere.
    user = get_user_model().objects.get(pk=client.session["_auth_user_id"])
    user.user_permissions.remove(Permission.objects.get(codename="view_debtor"))
    assert _sidebar_search(client) != URL


def test_query_cleaning():
    assert search.query_clean(" Ada\x00  Lovelace\n") == "Ada Lovelace"
    assert search.query_clean("x" * 500) == "x" * search.MAX_QUERY
    assert search.query_clean(None) == ""
    assert search.phone_digits("06 12 34 56 78") == "612345678"
    assert search.phone_digits("+1 (617) 555-0123") == "16175550123"
    assert search.phone_digits("12345") == ""
    assert search.phone_digits("ACC-12345678") == ""


@pytest.mark.postgres
def test_the_searched_columns_have_trigram_indexes():
    if connection.vendor != "postgresql":
        pytest.skip("GIN trigram indexes are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'casework_%%'"
        )
        indexes = dict(cursor.fetchall())
    assert len(indexes) == 8
    assert all("gin_trgm_ops" in d for d in indexes.values())


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(r[0] for r in cursor.fetchall())


@pytest.mark.postgres
def test_the_search_uses_the_trigram_indexes(people):
    """With sequential scans priced out, the plans read the trigram indexes: the query's
    expressions are the ones indexed (`icontains` on `UPPER(col::text)`, `%>` on names,
    `contains` on the phone)."""
    if connection.vendor != "postgresql":
        pytest.skip("GIN trigram indexes are PostgreSQL's")
    names = _plan(search.debtors_search(Debtor.objects.all(), "Lovelase", ranked=False))
    for column in ("ref", "first_up", "last_up", "email", "first", "last"):
        assert f"casework_debtor_{column}_trgm" in names, names
    phone = _plan(search.debtors_search(Debtor.objects.all(), "(617) 555-0123", ranked=False))
    assert "casework_debtor_phone_trgm" in phone, phone
    accounts = _plan(Account.objects.filter(external_ref__icontains="acc-"))
    assert "casework_account_ref_trgm" in accounts, accounts
