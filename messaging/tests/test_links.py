"""A fresh portal link asked for from an expired link: `portal_link_send` (the portal's
"send me a fresh link" button end to end is in portal/tests/test_fresh_link.py)."""

import pytest

from accounts.links import letter_code_make, portal_token_read
from accounts.models import Account
from messaging import services
from messaging.models import Message, MessageStatus, MessageVariant

pytestmark = pytest.mark.django_db


LETTER = "Dear {{ first_name }},\n\nYour new link: {{ portal_link }}"


@pytest.fixture
def link_variants(make_variant):
    """Live fresh-link notices (email, SMS, letter), and a "pay" email and a "View the account"
    email (a collection message, say that a pause is ending) that must not be used."""
    made = [
        make_variant("email", name="pay"),
        make_variant("email", name="fresh link"),
        make_variant("sms"),
        make_variant("letter", letter_body=LETTER),
        make_variant("email", name="pause ending"),
    ]
    MessageVariant.objects.filter(pk__in=[v.pk for v in made[1:4]]).update(cta="portal_link")
    MessageVariant.objects.filter(pk=made[4].pk).update(cta="view_account")
    return made


def _token_in(body: str) -> str:
    return body.split("/p/", 1)[1].split("/", 1)[0]


def test_fresh_link_goes_by_email_to_the_address_on_file_through_compliance(
    clock, link_variants, place_one
):
    account = place_one()
    message = services.portal_link_send(debtor=account.debtor, account=account, reference="7")
    assert message.status == MessageStatus.PLANNED
    assert message.variant_id == link_variants[1].pk  # the fresh-link email
    assert message.recipient == account.debtor.email and message.decision_id  # audited
    assert portal_token_read(_token_in(message.body)).debtor_id == account.debtor_id
    again = services.portal_link_send(debtor=account.debtor, account=account, reference="7")
    assert again.pk == message.pk and Message.objects.count() == 1


def test_fresh_link_falls_back_to_sms_after_an_email_opt_out(clock, link_variants, place_one):
    account = place_one(debtor={"flags": ["opted_out_email"]})
    message = services.portal_link_send(debtor=account.debtor, account=account, reference="8")
    assert message.channel == "sms" and message.recipient == account.debtor.phone


def test_fresh_link_goes_by_post_when_no_email_or_text_is_possible(clock, link_variants, place_one):
    account = place_one(debtor={"flags": ["opted_out_email"], "phone": ""})
    message = services.portal_link_send(debtor=account.debtor, account=account, reference="5")
    assert message.channel == "letter" and message.variant_id == link_variants[3].pk
    assert message.recipient.startswith(account.debtor.full_name)  # the postal address on file
    code = _token_in(message.body)  # a letter code, short enough to type from paper
    assert code == letter_code_make(debtor_id=account.debtor_id)
    assert portal_token_read(code).debtor_id == account.debtor_id


@pytest.mark.parametrize("status", ["paused", "disputed", "paid"])
def test_fresh_link_goes_whatever_the_accounts_status(clock, link_variants, place_one, status):
    account = place_one()
    Account.objects.filter(pk=account.pk).update(status=status)
    account.refresh_from_db()
    message = services.portal_link_send(debtor=account.debtor, account=account, reference="6")
    assert message.channel == "email" and message.recipient == account.debtor.email
    # Compliance still decides (a disputed account's region may hold every contact).
    assert message.status in (MessageStatus.PLANNED, MessageStatus.BLOCKED) and message.decision_id


def test_fresh_link_outside_the_regions_hours_is_planned_for_when_they_open(
    clock, link_variants, place_one
):
    clock.set(clock.now.replace(hour=3))  # 23:00 the evening before in Massachusetts
    account = place_one()
    message = services.portal_link_send(debtor=account.debtor, account=account, reference="9")
    assert message.status == MessageStatus.PLANNED and message.due_at > clock.now


def test_no_suitable_variant_sends_nothing(clock, make_variant, place_one):
    make_variant("email")  # a "pay in full" variant
    view = make_variant("email", name="pause ending")
    MessageVariant.objects.filter(pk=view.pk).update(cta="view_account")  # not a notice
    account = place_one()
    assert services.portal_link_send(debtor=account.debtor, account=account, reference="1") is None
    assert not Message.objects.exists()
