"""The expired-link page's "send me a fresh link", end to end: the portal records the request
and messaging sends the link to the contact details on file."""

from datetime import timedelta
from unittest import mock

import pytest
from django.test import Client

from accounts.links import portal_token_make
from messaging.models import Message, MessageVariant
from messaging.tests.conftest import (  # noqa: F401 - fixtures
    _compliance_rules_fresh,
    clock,
    make_variant,
    place_one,
    reviewer,
)
from portal.models import LinkRequest

pytestmark = pytest.mark.django_db


@pytest.fixture
def link_variants(make_variant):  # noqa: F811
    made = [make_variant("email"), make_variant("sms")]
    MessageVariant.objects.filter(pk__in=[v.pk for v in made]).update(cta="view_account")
    return made


def test_portal_fresh_link_button_sends_the_link_and_marks_the_request_sent(
    clock,  # noqa: F811
    link_variants,
    place_one,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    account = place_one()
    browser = Client()
    expired = timedelta(seconds=-1)
    with mock.patch("accounts.links.link_max_age", return_value=expired):
        browser.get(f"/p/{portal_token_make(debtor_id=account.debtor_id)}/")
    with django_capture_on_commit_callbacks(execute=True):
        assert browser.post("/p/link/").status_code == 200
    (request,) = LinkRequest.objects.all()
    assert request.status == "sent"
    (message,) = Message.objects.filter(slot=f"portal-link-{request.pk}")
    assert message.recipient == account.debtor.email
