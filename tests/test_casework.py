"""The casework pages of the Wagtail admin (collections_site/casework): debtors, accounts,
payments, payment plans and decisions, read-only, each list and page scoped to the viewer's
creditor, each page showing a debtor's data logged in the staff access log, and no query
string answered with a 500.

State is made through the real services: one debtor of `creditor` with a whole life
(tests/privacy_life.py: messages, decisions, a payment, a plan, a pause, a dispute, ...) and
one debtor of `other_creditor` with an account, a payment and a plan.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.models import CreditorUser, DebtorDataAccess, Payment, PaymentPlan
from accounts.tests.factories import UserFactory, place, row, staff_client
from recommender.models import Decision
from tests import privacy_life

pytestmark = pytest.mark.django_db

LISTS = ["debtors", "accounts", "payments", "plans", "decisions"]


@pytest.fixture
def book(life, other_creditor):
    """The life of `creditor`'s debtor, and another creditor's debtor with a payment and a
    plan (the same name, so a search for it would find both if tenancy leaked)."""
    (other,) = place(
        other_creditor,
        row("GX-1", currency="EUR", debtor={
            "external_ref": "GX", "first_name": privacy_life.FIRST,
            "last_name": privacy_life.LAST, "email": "globex.debtor@example.net",
        }),
    )  # fmt: skip
    services.payment_record(
        account=other, amount=Decimal("5.00"), idempotency_key="gx-pay", method="card",
        actor="test",
    )  # fmt: skip
    services.plan_create(
        account=other, frequency="monthly", count=3, first_due=date.today(), actor="test"
    )
    return life, other


def _rows(book, creditor_of_life: bool):
    """One row of each model for the life's debtor (or the other creditor's)."""
    life, other = book
    if creditor_of_life:
        debtor, account = life.debtor, life.accounts[0]
    else:
        debtor, account = other.debtor, other
    rows = {
        "debtors": debtor.pk,
        "accounts": account.pk,
        "payments": Payment.objects.filter(account__debtor=debtor).first().pk,
        "plans": PaymentPlan.objects.filter(account__debtor=debtor).first().pk,
    }
    decision = Decision.objects.filter(debtor=debtor).first()
    if decision:
        rows["decisions"] = decision.pk
    return rows


def _inspect(name: str, pk: int) -> str:
    return reverse(f"casework_{name}:inspect", args=[pk])


def _shows(page: str, ref: str) -> bool:
    """Whether `ref` stands in the page as a word ("(WQ)", "ACC-WQ-1"): two letters searched
    as a bare substring are also found, now and then, inside the random CSRF token of the
    Wagtail admin's configuration."""
    return re.search(rf"\b{re.escape(ref)}\b", page) is not None


def test_each_list_shows_the_viewers_creditor_only(book, creditor, other_creditor):
    mine, theirs = staff_client(creditor), staff_client(other_creditor)
    agency = staff_client(agency=True)
    for name in ("debtors", "accounts"):
        url = reverse(f"casework_{name}:index")
        page = mine.get(url).content.decode()
        assert _shows(page, "WQ") and not _shows(page, "GX"), name
        page = theirs.get(url).content.decode()
        assert _shows(page, "GX") and not _shows(page, "WQ"), name
        page = agency.get(url).content.decode()
        assert _shows(page, "GX") and _shows(page, "WQ"), name
    for name in ("payments", "plans", "decisions"):
        url = reverse(f"casework_{name}:index")
        assert "GX-1" not in mine.get(url).content.decode(), name
        assert "WQ-" not in theirs.get(url).content.decode(), name
    assert "WQ-1" in mine.get(reverse("casework_payments:index")).content.decode()
    assert "WQ-2" in mine.get(reverse("casework_plans:index")).content.decode()
    assert "WQ-1" in mine.get(reverse("casework_decisions:index")).content.decode()


def test_another_creditors_pages_are_not_found(book, creditor, other_creditor):
    mine, theirs = staff_client(creditor), staff_client(other_creditor)
    unbound = staff_client()  # staff bound to no creditor sees no creditor's data
    for name, pk in _rows(book, creditor_of_life=True).items():
        assert mine.get(_inspect(name, pk)).status_code == 200, name
        assert theirs.get(_inspect(name, pk)).status_code == 404, name
        assert unbound.get(_inspect(name, pk)).status_code == 404, name
    for name, pk in _rows(book, creditor_of_life=False).items():
        assert theirs.get(_inspect(name, pk)).status_code == 200, name
        assert mine.get(_inspect(name, pk)).status_code == 404, name
    assert not DebtorDataAccess.objects.filter(user__creditor_link__creditor=other_creditor,
                                               creditor=creditor).exists()  # fmt: skip


def test_every_page_showing_a_debtor_writes_the_access_log(book, creditor):
    client = staff_client(creditor)
    life, _ = book
    for name, pk in _rows(book, creditor_of_life=True).items():
        url = _inspect(name, pk)
        before = DebtorDataAccess.objects.count()
        assert client.get(url).status_code == 200
        logged = DebtorDataAccess.objects.exclude(pk__lte=0).order_by("-id").first()
        assert DebtorDataAccess.objects.count() == before + 1, name
        assert (logged.debtor_id, logged.page) == (life.debtor.pk, url), name
    # Lists show names but are not a debtor's page: nothing logged.
    before = DebtorDataAccess.objects.count()
    client.get(reverse("casework_debtors:index"))
    assert DebtorDataAccess.objects.count() == before


def test_the_pages_only_read(book, creditor):
    """No add, edit or delete page; the list offers no "Add" button; a POST changes nothing."""
    client = staff_client(creditor)
    superuser = UserFactory(is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(superuser)
    rows = _rows(book, creditor_of_life=True)
    for name in LISTS:
        prefix = reverse(f"casework_{name}:index")
        for who in (client, admin):
            assert who.get(prefix + "add/").status_code == 404
            assert who.get(f"{prefix}{rows[name]}/edit/").status_code == 404
            assert who.get(f"{prefix}{rows[name]}/delete/").status_code == 404
            assert 'href="' + prefix + 'add/"' not in who.get(prefix).content.decode()


def test_a_user_without_the_view_permission_is_refused(book, creditor):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="access_admin"))
    CreditorUser.objects.create(user=user, creditor=creditor)
    client = Client()
    client.force_login(user)
    pk = book[0].debtor.pk
    response = client.get(_inspect("debtors", pk))
    assert response.status_code in (302, 403)
    assert not DebtorDataAccess.objects.filter(debtor_id=pk, user=user).exists()


BAD_QUERIES = [
    {"q": "\x00"},
    {"q": "a\x00b"},
    {"q": "x" * 5000},
    {"q": "%_\\"},
    {"q": "' OR 1=1 --"},
    {"q": "+"},
    {"q": "(((("},
    {"q": "Quillfeather", "ordering": "-nonexistent"},
    {"p": "abc"},
    {"p": "-1"},
    {"p": "99999"},
    {"ordering": "password"},
    {"creditor": "abc"},
    {"creditor": "99999999999999999999999"},
    {"status": "nonsense"},
    {"arm": "x" * 300},
    {"region": "x" * 3000},
    {"method": "\x00"},
]


@pytest.mark.parametrize("params", BAD_QUERIES, ids=lambda p: repr(p)[:40])
def test_bad_query_strings_never_answer_500(book, creditor, params):
    client = staff_client(creditor)
    for name in LISTS:
        for view in ("index", "index_results"):
            response = client.get(reverse(f"casework_{name}:{view}"), params)
            assert response.status_code < 500, (name, view, params)


def test_an_unknown_or_malformed_id_is_not_found(book, creditor):
    client = staff_client(creditor)
    for name in LISTS:
        prefix = reverse(f"casework_{name}:index")
        assert client.get(f"{prefix}999999999/").status_code == 404
        assert client.get(f"{prefix}abc/").status_code == 404
        assert client.get(f"{prefix}99999999999999999999999/").status_code == 404


def test_an_open_accounts_status_changes_in_the_django_admin_actions(book, creditor):
    """The account's page links to the Django admin's list of this one account, whose actions
    call `accounts.services.account_transition`; only for users who may change accounts."""
    life, _ = book
    account = life.accounts[0]
    client = staff_client(creditor)
    assert "Change status" not in client.get(_inspect("accounts", account.pk)).content.decode()
    user = get_user_model().objects.get(pk=client.session["_auth_user_id"])
    user.user_permissions.add(Permission.objects.get(codename="change_account"))
    page = client.get(_inspect("accounts", account.pk)).content.decode()
    link = f"/django-admin/accounts/account/?id__exact={account.pk}"
    assert link in page.replace("&amp;", "&")
    changelist = client.get(link)
    assert changelist.status_code == 200
    listed = changelist.context["cl"].result_list
    assert [a.pk for a in listed] == [account.pk]
    assert 'value="recall"' in changelist.content.decode()


def _configuration_links(client) -> set[str]:
    page = client.get(reverse("casework_debtors:index")).content.decode()
    return set(re.findall(r'"(/django-admin/[a-z_]+/[a-z]+/)"', page))


def test_the_configuration_menu_links_only_what_the_user_may_open(book, creditor):
    superuser = UserFactory(is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(superuser)
    assert _configuration_links(admin) >= {
        "/django-admin/compliance/region/", "/django-admin/accounts/creditor/",
        "/django-admin/api_keys/apikey/", "/django-admin/auth/user/",
        "/django-admin/django_q/schedule/", "/django-admin/accounts/debtordataaccess/",
    }  # fmt: skip
    client = staff_client(creditor)  # every view permission, one creditor
    links = _configuration_links(client)
    assert "/django-admin/accounts/creditor/" in links
    assert "/django-admin/accounts/debtordataaccess/" not in links  # agency staff only
    user = get_user_model().objects.get(pk=client.session["_auth_user_id"])
    user.user_permissions.remove(*Permission.objects.filter(codename="view_region"))
    assert "/django-admin/compliance/region/" not in _configuration_links(client)
