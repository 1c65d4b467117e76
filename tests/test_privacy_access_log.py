"""The staff access log: opening a page that shows a debtor's personal data (the Django
admin's debtor page, a message in the Wagtail outbox) writes one row (who, when, which
debtor, which page) and nothing else; agency staff alone read the log."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import CreditorUser, DebtorDataAccess
from accounts.tests.factories import CreditorFactory, UserFactory, place, row

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def _staff(creditor=None, *, codenames=("view_debtor",), agency=False):
    user = UserFactory(is_staff=True)
    wanted = [*codenames, *(["view_all_creditors"] if agency else [])]
    user.user_permissions.set(Permission.objects.filter(codename__in=wanted))
    if creditor is not None:
        CreditorUser.objects.create(user=user, creditor=creditor)
    client = Client()
    client.force_login(user)
    return client, user


def _inserts_into_the_log(queries) -> int:
    table = DebtorDataAccess._meta.db_table
    return sum(1 for q in queries if q["sql"].startswith("INSERT") and table in q["sql"])


def test_opening_a_debtors_page_writes_one_access_row(creditor):
    (mine,) = place(creditor, row(1))
    (theirs,) = place(CreditorFactory(slug="other"), row(2))
    client, user = _staff(creditor)
    url = reverse("admin:accounts_debtor_change", args=[mine.debtor_id])
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    assert _inserts_into_the_log(queries.captured_queries) == 1
    access = DebtorDataAccess.objects.get()
    assert (access.user_id, access.debtor_id, access.creditor_id, access.page) == (
        user.pk,
        mine.debtor_id,
        creditor.pk,
        url,
    )
    other = reverse("admin:accounts_debtor_change", args=[theirs.debtor_id])
    assert client.get(other).status_code == 404
    assert client.get(reverse("admin:accounts_debtor_changelist")).status_code == 200
    assert DebtorDataAccess.objects.count() == 1  # neither a refusal nor the list


def test_opening_a_message_in_the_outbox_writes_an_access_row(creditor):
    from messaging import services as messaging
    from recommender.tests.conftest import make_variant

    with time_machine.travel(NOW, tick=False):
        (account,) = place(creditor, row(1))
        message = messaging.message_send(
            account=account, variant=make_variant(name="email", channel="email")
        )
    client, user = _staff(creditor, codenames=("view_message", "access_admin"))
    url = reverse("messaging_outbox:inspect", args=[message.pk])
    assert url == f"/admin/messaging/outbox/{message.pk}/"
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url)
    assert page.status_code == 200 and account.debtor.email in page.content.decode()
    assert _inserts_into_the_log(queries.captured_queries) == 1
    access = DebtorDataAccess.objects.get()
    assert (access.user_id, access.debtor_id, access.page) == (user.pk, account.debtor_id, url)


def test_only_agency_staff_read_the_access_log(creditor):
    from accounts.services import debtor_data_access_record

    (mine,) = place(creditor, row(1))
    (theirs,) = place(CreditorFactory(slug="other"), row(2))
    for account in (mine, theirs):
        debtor_data_access_record(user=None, debtor=account.debtor, page="/somewhere/")
    changelist = reverse("admin:accounts_debtordataaccess_changelist")

    agency, _ = _staff(codenames=("view_debtordataaccess",), agency=True)
    page = agency.get(changelist)
    assert {a.debtor_id for a in page.context["cl"].result_list} == {
        mine.debtor_id,
        theirs.debtor_id,
    }
    # The log names who looked, not who the debtor is.
    assert mine.debtor.last_name not in page.content.decode()

    creditor_staff, _ = _staff(creditor, codenames=("view_debtordataaccess",))
    assert creditor_staff.get(changelist).status_code == 403
    index = creditor_staff.get(reverse("admin:index"))
    assert changelist not in index.content.decode()


def test_every_admin_page_showing_a_debtors_data_writes_an_access_row(creditor):
    """The Django admin's message, call-back, dispute (and its document) and link-request
    pages show a debtor's contact details or own words: each view is logged like the
    debtor's page."""
    from datetime import date

    from django.core.files.uploadedfile import SimpleUploadedFile

    from accounts.links import portal_token_make
    from messaging import services as messaging
    from messaging.models import Message
    from portal import services as portal
    from portal.models import CALLBACK_HOURS, DisputeReason, LinkRequest
    from recommender.tests.conftest import make_variant

    with time_machine.travel(NOW, tick=False):
        a1, a2 = place(creditor, row(1), row(2))
        message = messaging.message_send(
            account=a1, variant=make_variant(name="email", channel="email")
        )
        callback = portal.callback_request(
            debtor=a1.debtor, account=a1, day=date(2026, 3, 12), window=next(iter(CALLBACK_HOURS))
        )
        document = SimpleUploadedFile("p.pdf", b"%PDF-1.4 a payslip", "application/pdf")
        dispute = portal.dispute_raise(
            account=a2, reason=DisputeReason.values[0], details="Not mine", document=document
        )
        portal.link_request(token=portal_token_make(debtor_id=a1.debtor_id))
    assert Message.objects.filter(pk=message.pk).exists()
    pages = [
        (reverse("admin:messaging_message_change", args=[message.pk]), a1.debtor_id),
        (reverse("admin:portal_callbackrequest_change", args=[callback.pk]), a1.debtor_id),
        (reverse("admin:portal_portaldispute_change", args=[dispute.pk]), a2.debtor_id),
        (reverse("admin:portal_portaldispute_document", args=[dispute.pk]), a2.debtor_id),
        (
            reverse("admin:portal_linkrequest_change", args=[LinkRequest.objects.get().pk]),
            a1.debtor_id,
        ),
    ]
    client, user = _staff(
        creditor,
        codenames=("view_message", "view_callbackrequest", "view_portaldispute",
                   "view_linkrequest"),
    )  # fmt: skip
    for url, debtor_id in pages:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200, url
        assert _inserts_into_the_log(queries.captured_queries) == 1, url
        access = DebtorDataAccess.objects.latest("pk")
        assert (access.user_id, access.debtor_id, access.page) == (user.pk, debtor_id, url)
