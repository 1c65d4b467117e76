"""Messages as a mail client and a printer lay them out: a long link (every message carries a
portal link of ~100 characters) wraps inside the page instead of running off it."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string

pytestmark = pytest.mark.browser

LINK = "https://collect.example.com/p/" + "eyJkIjoyLCJqIjoiUkxpVUFjd2t5Z0tyIn0" * 3 + "/"
PARAGRAPHS = ["Hello Ada,", f"You can pay, set up a plan or tell us about it here: {LINK}"]


def _overflow(page) -> int:
    """How many pixels the widest line of text (or element) sticks out past the viewport's
    right edge."""
    return page.evaluate(
        """() => {
            const text = document.createRange();
            text.selectNodeContents(document.body);
            const rights = [...text.getClientRects()].map(r => r.right);
            document.querySelectorAll('body *').forEach(
                e => rights.push(e.getBoundingClientRect().right));
            return Math.max(0, ...rights.map(right => right - window.innerWidth));
        }"""
    )


@pytest.mark.parametrize("width", [600, 390], ids=["desktop-client", "phone"])
def test_an_emails_long_link_wraps_inside_the_message(browser, width):
    html = render_to_string(
        "messaging/email.html", {"language": "en", "subject": "S", "paragraphs": PARAGRAPHS}
    )
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.set_content(html)
    assert _overflow(page) <= 1
    page.close()


def test_a_letters_long_link_stays_inside_the_printed_margins(browser):
    html = render_to_string(
        "messaging/letter.html",
        {"language": "en", "paragraphs": PARAGRAPHS, "address_lines": ["Ada Lovelace"]},
    )
    # A4 is 210 mm wide; the letter's @page margins leave 165 mm for the text.
    page = browser.new_page(viewport={"width": 624, "height": 1000})  # 165 mm at 96 dpi
    page.emulate_media(media="print")
    page.set_content(html)
    assert _overflow(page) <= 1
    page.close()


@pytest.mark.django_db
def test_a_letters_qr_code_reads_back_as_its_portal_link_from_the_printed_page(browser, creditor):
    import io

    import numpy as np
    import zxingcpp
    from matplotlib import pyplot

    from accounts.links import portal_url
    from accounts.tests.factories import place, row
    from messaging.models import Message
    from messaging.outbound import letter_outbound

    (account,) = place(creditor, row(1))
    link = portal_url(debtor_id=account.debtor_id)
    message = Message(
        pk=1, account=account, debtor=account.debtor, channel="letter", language="en",
        recipient="Ada Lovelace\n1 Main St", body=f"Dear Ada,\n\nPay here: {link}",
        links=[link], due_at=account.placed_at,
    )  # fmt: skip
    page = browser.new_page(viewport={"width": 794, "height": 1123})  # A4 at 96 dpi
    page.emulate_media(media="print")
    page.set_content(letter_outbound(message).html)
    picture = pyplot.imread(io.BytesIO(page.screenshot(full_page=True)), format="png")
    page.close()
    grey = (picture[..., :3].mean(axis=2) * 255).astype(np.uint8)
    assert [code.text for code in zxingcpp.read_barcodes(grey)] == [link]
