"""The expired-link page's "send me a fresh link", end to end: the portal records the request
and messaging sends the link to the contact details on file."""

from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.links import portal_token_make
from messaging.models import Message, MessageVariant
from messaging.services import dispatch_due, portal_link_send
from messaging.tests.conftest import (  # noqa: F401 - fixtures
    _compliance_rules_fresh,
    clock,
    make_variant,
    place_one,
    reviewer,
)
from portal.models import LinkRequest
from portal.tests.conftest import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def link_variants(make_variant):  # noqa: F811
    made = [make_variant("email"), make_variant("sms")]
    MessageVariant.objects.filter(pk__in=[v.pk for v in made]).update(cta="portal_link")
    return made


def _ask_for_a_fresh_link(account, capture):
    """Open the debtor's expired link and press "Send me a new link" (the dispatch runs)."""
    browser = Client()
    with mock.patch("accounts.links.link_max_age", return_value=timedelta(seconds=-1)):
        browser.get(f"/p/{portal_token_make(debtor_id=account.debtor_id)}/")
    with capture(execute=True):
        return browser.post("/p/link/")


def test_portal_fresh_link_button_sends_the_link_and_marks_the_request_sent(
    clock,  # noqa: F811
    link_variants,
    place_one,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    account = place_one()
    assert _ask_for_a_fresh_link(account, django_capture_on_commit_callbacks).status_code == 200
    (request,) = LinkRequest.objects.all()
    assert request.status == "sent"
    (message,) = Message.objects.filter(slot=f"portal-link-{request.pk}")
    assert message.recipient == account.debtor.email


def test_a_pending_request_is_sent_from_the_admin_once_a_notice_is_published(
    clock,  # noqa: F811
    make_variant,  # noqa: F811
    place_one,  # noqa: F811
    django_capture_on_commit_callbacks,
    caplog,
):
    account = place_one()
    _ask_for_a_fresh_link(account, django_capture_on_commit_callbacks)
    (request,) = LinkRequest.objects.all()
    assert request.status == "pending" and not Message.objects.exists()  # no notice yet
    assert f"link request {request.pk}" in caplog.text  # the operator can find out why
    admin = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw")
    ops = Client()
    ops.force_login(admin)
    changelist = "/django-admin/portal/linkrequest/"
    answer = ops.post(changelist, {"action": "send_again", "_selected_action": [request.pk]},
                      follow=True)  # fmt: skip
    page = answer.content.decode()
    assert "1 still pending" in page and "link(s) sent" not in page
    assert "none: no live fresh-link notice" in page  # the request's message column
    notice = make_variant("email")
    MessageVariant.objects.filter(pk=notice.pk).update(cta="portal_link")
    answer = ops.post(changelist, {"action": "send_again", "_selected_action": [request.pk]},
                      follow=True)  # fmt: skip
    page = answer.content.decode()
    assert "1 link(s) sent." in page and "Email, planned" in page
    request.refresh_from_db()
    assert request.status == "sent"
    (message,) = Message.objects.filter(slot=f"portal-link-{request.pk}")
    assert message.recipient == account.debtor.email and message.variant_id == notice.pk


def test_history_lists_the_messages_that_went_out_to_the_debtor(
    clock,  # noqa: F811
    link_variants,
    place_one,  # noqa: F811
):
    account = place_one()
    other = place_one(debtor={"external_ref": "D-OTHER", "email": "other@example.com"})
    for who in (account, other):
        portal_link_send(debtor=who.debtor, account=who, reference=f"r{who.pk}", actor="test")
    assert dispatch_due().sent == 2
    planned = portal_link_send(debtor=account.debtor, account=account, reference="later",
                               actor="test")  # fmt: skip
    sent = Message.objects.get(debtor=account.debtor, sent_at__isnull=False)
    page = sign_in(Client(), account.debtor_id).get("/p/history/").content.decode()
    assert f"Email: {sent.subject}" in page
    assert page.count("Email:") == 1  # not the other debtor's, not the unsent one
    assert Message.objects.filter(pk=planned.pk, sent_at__isnull=True).exists()
