"""From a frozen `Message` to what a backend transmits (`Outbound`), deterministically.

The frozen body holds the real URLs (portal link, opt-out link, editors' links); here each is
replaced by a signed click-tracking URL naming (message, link index), except opt-out links,
which stay direct. Email gets an HTML part with an open pixel and the List-Unsubscribe /
List-Unsubscribe-Post (RFC 8058 one-click) headers; SMS/WhatsApp a status callback; a letter its
print-ready page. The same message always yields the same `Outbound` (reconciliation relies
on it).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import segno
from babel.dates import format_date
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from accounts.links import letter_code_of, portal_url_in
from messaging import tracking
from messaging.backends import Outbound
from messaging.content import URL_RE, locale_for
from messaging.models import Channel, Message


def tracked_links(message: Message) -> dict[str, str]:
    """Original URL -> click-tracking URL for each link of the message (opt-outs excluded)."""
    prefix = tracking.unsubscribe_prefix()
    return {
        url: tracking.click_url(message_id=message.pk, index=index)
        for index, url in enumerate(message.links or [])
        if not url.startswith(prefix)
    }


def _with_links(text: str, mapping: dict[str, str]) -> str:
    return URL_RE.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)


def _paragraph_html(text: str, mapping: dict[str, str]) -> SafeString:
    """Escape a paragraph of plain text and turn its URLs into (tracked) links.

    A link reads as the address it goes to, as in the plain-text part: the short tracked URL,
    not the portal's long signed one, and never one address shown over another (mail
    clients and filters take a link whose text is another URL for phishing)."""
    out: list[str] = []
    last = 0
    for match in URL_RE.finditer(text):
        out.append(escape(text[last : match.start()]))
        url = match.group(0)
        href = escape(mapping.get(url, url))
        out.append(f'<a href="{href}">{href}</a>')
        last = match.end()
    out.append(escape(text[last:]))
    return mark_safe("".join(out).replace("\n", "<br>\n"))  # noqa: S308 (escaped above)


def _paragraphs(text: str, mapping: dict[str, str]) -> list[SafeString]:
    return [_paragraph_html(p.strip(), mapping) for p in text.split("\n\n") if p.strip()]


def email_outbound(message: Message) -> Outbound:
    mapping = tracked_links(message)
    unsubscribe = tracking.unsubscribe_url(
        debtor_id=message.debtor_id, channel=message.channel, message_id=message.pk
    )
    targets = [f"<{unsubscribe}>"]
    if settings.MESSAGING_UNSUBSCRIBE_MAILTO:
        targets.append(f"<mailto:{settings.MESSAGING_UNSUBSCRIBE_MAILTO}?subject=unsubscribe>")
    with translation.override(message.language or "en"):
        html = render_to_string(
            "messaging/email.html",
            {
                "subject": message.subject,
                "paragraphs": _paragraphs(message.body, mapping),
                "pixel_url": tracking.open_url(message_id=message.pk),
                "unsubscribe_url": unsubscribe,
                "language": message.language,
            },
        )
    return Outbound(
        message_id=message.pk,
        channel=message.channel,
        recipient=message.recipient,
        subject=message.subject,
        text=_with_links(message.body, mapping),
        html=html,
        headers={
            "List-Unsubscribe": ", ".join(targets),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


@lru_cache(maxsize=4)
def _status_callback(site_url: str) -> str:
    return site_url + reverse("messaging:twilio_status")


def sms_outbound(message: Message) -> Outbound:
    callback = f"{_status_callback(settings.SITE_URL)}?m={message.pk}"
    return Outbound(
        message_id=message.pk,
        channel=message.channel,
        recipient=message.recipient,
        subject="",
        text=_with_links(message.body, tracked_links(message)),
        status_callback=callback,
    )


# The QR code's data mask. ISO/IEC 18004 lets an encoder use any of its eight masks (a
# reader tries them all); segno's default draws all eight and scores each by the standard's
# penalty rules, to keep the lowest: most of the time a letter takes to compose and hand over.
# Mask 2 scores on average within 1-8% of the best on letters' portal links (19% at worst,
# over two site addresses and both code lengths): the same symbol size and error correction,
# read the same (docs/benchmarks.md, "Standard mechanisms and the exceptions kept").
# None: segno's own choice.
QR_MASK: int | None = 2


def portal_qr_svg(links: Sequence[str]) -> SafeString | None:
    """The portal link among a message's `links` as an inline SVG QR code (segno), or None
    without one.

    A letter prints it beside its text (and the editor's preview shows it): a phone's camera
    opens it. Error correction M; the four-module quiet zone the standard asks for is inside
    the picture."""
    url = portal_url_in(links)
    if url is None:
        return None
    svg = portal_qr(url).svg_inline(border=4, omitsize=True, svgclass="qr")
    return mark_safe(svg)  # noqa: S308 (segno's own markup: path data and a class, no input text)


def portal_qr(url: str) -> segno.QRCode:
    """The QR code of a portal address: error correction M, data mask `QR_MASK`."""
    return segno.make(url, error="m", mask=QR_MASK)


def portal_typed(links: Sequence[str]) -> dict[str, str]:
    """For those without a camera: where to go and what to type, from the letter code among
    `links` (`{"portal_home": "collect.example.com/p/", "portal_code": "K3M9-..."}`), or {}
    when the portal link is not a letter code (a signed token is not for typing)."""
    url = portal_url_in(links)
    code = letter_code_of(url) if url else None
    if code is None:
        return {}
    home = url.split("://", 1)[-1].rpartition(code)[0]
    return {"portal_home": home, "portal_code": code}


def letter_outbound(message: Message) -> Outbound:
    debtor = message.debtor
    creditor = message.account.creditor
    values = settings.MESSAGING_DISCLOSURE_VALUES
    with translation.override(message.language or "en"):
        html = render_to_string(
            "messaging/letter.html",
            {
                "message": message,
                "sender_name": values.get("collector_name") or creditor.display_name,
                "sender_address": values.get("collector_address", ""),
                "creditor_name": creditor.display_name,
                "address_lines": message.recipient.split("\n"),
                "date": format_date(
                    message.due_at.date(), format="long", locale=locale_for(debtor)
                ),
                "reference": message.account.external_ref,
                "paragraphs": _paragraphs(message.body, {}),
                "portal_qr": portal_qr_svg(message.links or []),
                **portal_typed(message.links or []),
                "language": message.language,
            },
        )
    return Outbound(
        message_id=message.pk,
        channel=message.channel,
        recipient=message.recipient,
        subject="",
        text=message.body,
        html=html,
    )


def outbound_for(message: Message) -> Outbound:
    """What the backend of `message.channel` transmits for this message."""
    if message.channel == Channel.EMAIL:
        return email_outbound(message)
    if message.channel == Channel.LETTER:
        return letter_outbound(message)
    return sms_outbound(message)
