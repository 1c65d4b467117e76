"""The admin's home page for collections work (collections_site/casework/home.py): its summary
counts debtors, open accounts and live message variants, scoped to the viewer's creditor and
linking to the lists they count; its search box searches debtors, not pages."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts import services
from accounts.tests.factories import UserFactory, place, row, staff_client

pytestmark = pytest.mark.django_db


def _summary(html: str) -> str:
    return html[html.index('class="w-summary"') : html.index("</section>")]


def test_the_summary_counts_the_viewers_debtors_and_open_accounts(creditor, other_creditor):
    accounts = place(creditor, row(1), row(2), row(3))
    services.account_transition(account=accounts[2], status="closed", actor="test", reason="test")
    place(other_creditor, row(7), row(8), row(9), row(10))
    mine = _summary(staff_client(creditor).get("/admin/").content.decode())
    assert re.search(r'href="/admin/casework/debtors/">\s*3 debtors</a>', mine), mine
    assert re.search(r'href="/admin/casework/accounts/\?status=open">\s*2 open accounts', mine)
    assert mine.count("<li>") == 3  # debtors, open accounts, live message variants
    for theirs in ("Page", "Image", "Document"):
        assert theirs not in mine
    every = _summary(staff_client(agency=True).get("/admin/").content.decode())
    assert "7 debtors" in every and "6 open accounts" in every
    # A superuser may see Wagtail's images and documents too: their counts are still left out.
    root = Client()
    root.force_login(UserFactory(is_staff=True, is_superuser=True))
    everything = _summary(root.get("/admin/").content.decode())
    assert everything.count("<li>") == 3 and "7 debtors" in everything
    assert "Image" not in everything and "Document" not in everything


def test_the_open_accounts_link_lists_the_open_accounts_only(creditor):
    accounts = place(creditor, row(1), row(2))
    services.account_transition(account=accounts[1], status="closed", actor="test", reason="test")
    page = staff_client(creditor).get("/admin/casework/accounts/", {"status": "open"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "ACC-1" in html and "ACC-2" not in html


def test_the_search_box_searches_debtors_by_name_reference_email_or_phone(creditor):
    html = staff_client(creditor).get("/admin/").content.decode()
    form = html[html.index('role="search"') - 200 :]
    form = form[: form.index("</form>")]
    assert 'action="/admin/casework/debtors/"' in form
    assert 'name="q"' in form
    assert "Search debtors: reference, name, e-mail or phone" in form
    assert "Search all pages" not in html
