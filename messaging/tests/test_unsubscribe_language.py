"""The unsubscribe pages and the e-mail footer speak the debtor's language (en, fr, de)."""

from urllib.parse import urlsplit

import pytest

from messaging import services, tracking
from messaging.models import MessageStatus
from messaging.outbound import email_outbound

pytestmark = pytest.mark.django_db


def _debtor_speaking(place_one, language: str):
    account = place_one()
    debtor = account.debtor
    debtor.language = language
    debtor.save(update_fields=["language"])
    return account, debtor


@pytest.mark.parametrize(
    ("language", "question", "done"),
    [
        ("en", "Stop these messages?", "You will no longer receive Email messages"),
        ("fr", "Arrêter ces messages ?", "Vous ne recevrez plus de messages par E-mail"),
        ("de", "Diese Nachrichten beenden?", "keine Nachrichten per E-Mail mehr"),
    ],
)
def test_the_unsubscribe_pages_are_in_the_debtors_language(
    client, place_one, language, question, done
):
    _, debtor = _debtor_speaking(place_one, language)
    path = urlsplit(tracking.unsubscribe_url(debtor_id=debtor.pk, channel="email")).path
    page = client.get(path).content.decode()
    assert f'<html lang="{language}">' in page
    assert question in page
    answer = client.post(path).content.decode()
    assert done in answer
    debtor.refresh_from_db()
    assert "opted_out_email" in debtor.flags


def test_a_debtor_language_the_site_does_not_have_falls_back_to_english(client, place_one):
    _, debtor = _debtor_speaking(place_one, "es")
    path = urlsplit(tracking.unsubscribe_url(debtor_id=debtor.pk, channel="sms")).path
    page = client.get(path).content.decode()
    assert '<html lang="en">' in page and "stop receiving SMS messages" in page


def test_the_email_footer_link_is_in_the_messages_language(clock, make_variant, place_one):
    account, _ = _debtor_speaking(place_one, "de")
    variant = make_variant("email", language="de")
    message = services.message_send(account=account, variant=variant, planned_at=clock.now)
    assert message.status == MessageStatus.PLANNED, message.status_reason
    html = email_outbound(message).html
    assert ">Abmelden</a>" in html and ">Unsubscribe</a>" not in html
