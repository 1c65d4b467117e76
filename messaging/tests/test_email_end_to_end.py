"""Email end to end through a real SMTP server on localhost (aiosmtpd): headers, disclosure,
tracking links, open pixel and one-click unsubscribe."""

import re
from urllib.parse import urlsplit

import pytest

from accounts.models import Activity, ActivityKind
from messaging import services
from messaging.models import EventKind, Message, MessageStatus

pytestmark = pytest.mark.django_db


def _path(url: str) -> str:
    return urlsplit(url).path


def _send_one(clock, make_variant, place_one, smtp_server):
    variant = make_variant("email")
    account = place_one()
    message = services.message_send(account=account, variant=variant, planned_at=clock.now)
    assert message.status == MessageStatus.PLANNED, message.status_reason
    result = services.dispatch_due()
    assert result.sent == 1, result
    assert len(smtp_server.messages) == 1
    message.refresh_from_db()
    return message, smtp_server.messages[0], smtp_server.envelopes[0]


def test_email_goes_through_smtp_with_unsubscribe_headers_and_disclosures(
    clock, make_variant, place_one, smtp_server
):
    message, email, envelope = _send_one(clock, make_variant, place_one, smtp_server)
    assert envelope.rcpt_tos == ["ada1@example.com"]
    assert email["Subject"] == "Your Acme Energy Ltd balance"
    assert email["Message-ID"] == message.provider_id and message.provider == "smtp"
    # RFC 8058 one-click unsubscribe.
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.fullmatch(r"<(http://localhost:8000/m/u/[^>]+/)>", email["List-Unsubscribe"])
    assert unsubscribe, email["List-Unsubscribe"]
    text = email.get_body(("plain",)).get_content()
    html = email.get_body(("html",)).get_content()
    # The US initial disclosure and the email opt-out text are in both parts.
    for part in (text, html):
        assert "This communication is from a debt collector." in part
    assert "To stop emails about this debt, use this link: http://localhost:8000/m/u/" in text
    assert 'use this link: <a href="http://localhost:8000/m/u/' in html
    # Links are tracked, except opt-out links, which stay direct.
    assert "/p/" not in text and "https://example.org/help" not in text
    assert len(re.findall(r"http://localhost:8000/m/c/[^\s]+", text)) == 2
    assert re.search(r'<img src="http://localhost:8000/m/o/[^"]+\.gif"', html)
    # The HTML part shows each link as the address it goes to, as the plain part does.
    anchors = re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', html)
    shown = [(href, label) for href, label in anchors if label.startswith("http")]
    assert len(shown) == 3 and all(href == label for href, label in shown), shown
    assert "/p/" not in html


def test_tracking_links_in_the_received_email_open_and_click_and_redirect(
    clock, make_variant, place_one, smtp_server, client
):
    message, email, _ = _send_one(clock, make_variant, place_one, smtp_server)
    text = email.get_body(("plain",)).get_content()
    html = email.get_body(("html",)).get_content()
    pixel = re.search(r'<img src="([^"]+)"', html).group(1)
    assert client.get(_path(pixel)).status_code == 200
    clicks = re.findall(r"http://localhost:8000/m/c/[^\s]+", text)
    first = client.get(_path(clicks[0]))
    assert first.status_code == 302 and first["Location"] == message.links[0]
    assert first["Location"].startswith("http://localhost:8000/p/")  # the portal link
    second = client.get(_path(clicks[1]))
    assert second["Location"] == "https://example.org/help"
    message.refresh_from_db()
    assert message.opened_at == clock.now and message.clicked_at == clock.now
    kinds = sorted(message.events.values_list("kind", flat=True))
    assert kinds == ["clicked", "clicked", "opened"]
    client.get(_path(clicks[0]))  # clicking again records nothing new
    assert message.events.count() == 3
    assert Activity.objects.filter(kind=ActivityKind.MESSAGE_OPENED).count() == 1


def test_one_click_unsubscribe_from_the_received_email_stops_further_email(
    clock, make_variant, place_one, smtp_server, client
):
    message, email, _ = _send_one(clock, make_variant, place_one, smtp_server)
    url = re.fullmatch(r"<([^>]+)>", email["List-Unsubscribe"]).group(1)
    # A mail client's RFC 8058 POST: no cookies, no CSRF token.
    response = client.post(_path(url), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    message.debtor.refresh_from_db()
    assert "opted_out_email" in message.debtor.flags
    assert message.events.filter(kind=EventKind.UNSUBSCRIBED).exists()
    opted = Activity.objects.get(kind=ActivityKind.OPTED_OUT)
    assert opted.data == {"channel": "email", "source": "one-click", "message_id": message.pk}
    later = services.message_send(
        account=message.account, variant=message.variant, slot="next", planned_at=clock.now
    )
    assert later.status == MessageStatus.BLOCKED and "opted out" in later.status_reason
    assert services.dispatch_due().sent == 0
    assert len(smtp_server.messages) == 1


def test_the_unsubscribe_link_in_the_body_asks_before_opting_out(
    clock, make_variant, place_one, smtp_server, client
):
    message, email, _ = _send_one(clock, make_variant, place_one, smtp_server)
    text = email.get_body(("plain",)).get_content()
    link = re.search(r"http://localhost:8000/m/u/\S+/", text).group(0)
    page = client.get(_path(link))  # link scanners only GET: nothing happens
    assert page.status_code == 200 and b'<form method="post"' in page.content
    message.debtor.refresh_from_db()
    assert "opted_out_email" not in message.debtor.flags
    assert client.post(_path(link)).status_code == 200
    message.debtor.refresh_from_db()
    assert "opted_out_email" in message.debtor.flags


def test_an_smtp_server_that_is_down_means_a_retry_not_a_loss(
    clock, make_variant, place_one, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.MESSAGING_EMAIL_BACKEND = ""
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    variant = make_variant("email")
    message = services.message_send(account=place_one(), variant=variant, planned_at=clock.now)
    assert services.dispatch_due().retried == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.PLANNED and message.attempts == 1
    assert Message.objects.filter(status=MessageStatus.SENT).count() == 0
