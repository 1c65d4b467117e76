"""Shared set-up of the work queues' tests: the messaging tests' fixtures (a clock inside US
contact hours, approved variants made through the real workflow), the two dispute notices,
disputes and call backs raised through the portal's own services, a failed message, and staff
users with the permissions a queue needs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import CreditorUser
from accounts.tests.factories import UserFactory, place, row
from messaging import services as messaging
from messaging.models import Message, MessageStatus, MessageVariant
from messaging.tests import conftest as messaging_fixtures
from portal import services as portal
from portal.selectors import debtor_today

_compliance_rules_fresh = messaging_fixtures._compliance_rules_fresh
clock = messaging_fixtures.clock
make_variant = messaging_fixtures.make_variant
reviewer = messaging_fixtures.reviewer

UPHELD_TEXT = {
    "email_subject": "Your dispute about {{ account_reference }}",
    "email_body": "Hello {{ first_name }},\n\nYou were right: the debt is withdrawn.",
}
STANDS_TEXT = {
    "email_subject": "Your dispute about {{ account_reference }}",
    "email_body": "Hello {{ first_name }},\n\nThe debt stands: {{ balance }}.",
}


@pytest.fixture
def notices(make_variant):
    """Live dispute outcome notices by email (upheld, debt stands) and a collection email."""
    made = {
        "collection": make_variant("email", name="collection"),
        "upheld": make_variant("email", name="upheld notice", **UPHELD_TEXT),
        "stands": make_variant("email", name="stands notice", **STANDS_TEXT),
    }
    MessageVariant.objects.filter(pk=made["upheld"].pk).update(cta="dispute_upheld")
    MessageVariant.objects.filter(pk=made["stands"].pk).update(cta="dispute_debt_stands")
    for variant in made.values():
        variant.refresh_from_db()
    return made


_counter = {"n": 0}


def placed(creditor, **overrides):
    _counter["n"] += 1
    n = _counter["n"]
    return place(creditor, row(f"{creditor.slug}-{n}", **overrides))[0]


def dispute_of(creditor, **overrides):
    account = placed(creditor, **overrides)
    return portal.dispute_raise(account=account, reason="not_mine", details="Not me.")


def callback_of(creditor, account=None, **overrides):
    account = account or placed(creditor, **overrides)
    day = debtor_today(account.debtor) + timedelta(days=1)
    return portal.callback_request(
        debtor=account.debtor, account=account, day=day, window="morning"
    )


def failed_message(creditor, variant, *, reason="backend refused: 550 mailbox unavailable"):
    """A message sent through message_send, then failed as dispatch fails one."""
    account = placed(creditor)
    message = messaging.message_send(account=account, variant=variant, slot="day-1")
    Message.objects.filter(pk=message.pk).update(status=MessageStatus.FAILED, status_reason=reason)
    message.refresh_from_db()
    return message


def staff(creditor=None, *, act: bool = True, agency: bool = False):
    """(client, user): a signed-in staff user of `creditor` who may see every queue and, with
    `act`, change them."""
    user = UserFactory(is_staff=True)
    codenames = ["access_admin", "view_portaldispute", "view_callbackrequest", "view_message"]
    if act:
        codenames += ["change_portaldispute", "change_callbackrequest", "change_handoffreview"]
    if agency:
        codenames.append("view_all_creditors")
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    if creditor is not None:
        CreditorUser.objects.create(user=user, creditor=creditor)
    client = Client()
    client.force_login(user)
    return client, user
