"""A fresh portal link asked for from an expired link: `portal_link_send` (the portal's
"send me a fresh link" button end to end is in portal/tests/test_fresh_link.py)."""

import pytest

from accounts.links import portal_token_read
from messaging import services
from messaging.models import Message, MessageStatus, MessageVariant

pytestmark = pytest.mark.django_db


@pytest.fixture
def link_variants(make_variant):
    """Live "View the account" variants (email and SMS) and a "pay" one that must not be used."""
    made = [make_variant("email", name="pay"), make_variant("email"), make_variant("sms")]
    MessageVariant.objects.filter(pk__in=[v.pk for v in made[1:]]).update(cta="view_account")
    return made


def _token_in(body: str) -> str:
    return body.split("/p/", 1)[1].split("/", 1)[0]


def test_fresh_link_goes_by_email_to_the_address_on_file_through_compliance(
    clock, link_variants, place_one
):
    account = place_one()
    message = services.portal_link_send(debtor=account.debtor, account=account, reference="7")
    assert message.status == MessageStatus.PLANNED
    assert message.variant_id == link_variants[1].pk  # the "View the account" email
    assert message.recipient == account.debtor.email and message.decision_id  # audited
    assert portal_token_read(_token_in(message.body)).debtor_id == account.debtor_id
    again = services.portal_link_send(debtor=account.debtor, account=account, reference="7")
    assert again.pk == message.pk and Message.objects.count() == 1


def test_fresh_link_falls_back_to_sms_after_an_email_opt_out(clock, link_variants, place_one):
    account = place_one(debtor={"flags": ["opted_out_email"]})
    message = services.portal_link_send(debtor=account.debtor, account=account, reference="8")
    assert message.channel == "sms" and message.recipient == account.debtor.phone


def test_fresh_link_outside_the_regions_hours_is_blocked_with_reasons(
    clock, link_variants, place_one
):
    clock.set(clock.now.replace(hour=3))  # 23:00 the evening before in Massachusetts
    account = place_one()
    message = services.portal_link_send(debtor=account.debtor, account=account, reference="9")
    assert message.status == MessageStatus.BLOCKED and message.status_reason


def test_no_suitable_variant_sends_nothing(clock, make_variant, place_one):
    make_variant("email")  # a "pay in full" variant only
    account = place_one()
    assert services.portal_link_send(debtor=account.debtor, account=account, reference="1") is None
    assert not Message.objects.exists()
