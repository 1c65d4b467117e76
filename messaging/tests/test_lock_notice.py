"""`portal_lock_notify`: the debtor is told that a portal link of theirs was locked (the
portal's lockout end to end is in portal/tests/test_lockout.py)."""

import pytest

from messaging import services
from messaging.models import Message, MessageStatus, MessageVariant

pytestmark = pytest.mark.django_db

NOTICE = {
    "email_subject": "Sign-in to your {{ creditor_name }} account was paused",
    "email_body": "Hello {{ first_name }},\n\nSomeone entered details that did not match ours "
    "several times, so we paused the link we sent you.\n\nNot you? Write to {{ contact_email }}.",
}


@pytest.fixture
def notices(make_variant):
    """A live lock notice by email, and a "View the account" email that must not be used."""
    made = [make_variant("email", name="view"), make_variant("email", name="notice", **NOTICE)]
    MessageVariant.objects.filter(pk=made[0].pk).update(cta="view_account")
    MessageVariant.objects.filter(pk=made[1].pk).update(cta="portal_locked")
    return made


def test_the_notice_goes_once_per_reference_to_the_address_on_file(clock, notices, place_one):
    account = place_one()
    message = services.portal_lock_notify(debtor=account.debtor, account=account, reference="j-1")
    assert message.status == MessageStatus.PLANNED and message.due_at == clock.now
    assert message.variant_id == notices[1].pk and message.slot == "portal-lock-j-1"
    assert message.recipient == account.debtor.email and message.decision_id  # audited
    again = services.portal_lock_notify(debtor=account.debtor, account=account, reference="j-1")
    assert again.pk == message.pk and Message.objects.count() == 1


def test_outside_the_regions_hours_the_notice_is_planned_for_when_they_open(
    clock, notices, place_one
):
    clock.set(clock.now.replace(hour=3))  # 23:00 the evening before in Massachusetts
    account = place_one()
    message = services.portal_lock_notify(debtor=account.debtor, account=account, reference="j-2")
    assert message.status == MessageStatus.PLANNED and message.due_at > clock.now


def test_an_opted_out_debtor_gets_no_notice_on_that_channel(clock, notices, place_one):
    account = place_one(debtor={"flags": ["opted_out_email"]})
    notice = services.portal_lock_notify(debtor=account.debtor, account=account, reference="x")
    assert notice is None
    assert not Message.objects.exists()


def test_without_a_notice_in_the_library_nothing_is_written(clock, make_variant, place_one):
    make_variant("email")  # a "pay in full" variant only
    account = place_one()
    notice = services.portal_lock_notify(debtor=account.debtor, account=account, reference="y")
    assert notice is None
    assert not Message.objects.exists()
