"""Channel backends: letters to print files, WhatsApp through Twilio, an ESP via anymail,
and the rule that every text message says how to stop them."""

import pytest
import time_machine
from django.core import mail

from compliance.models import DisclosureRule
from compliance.selectors import rules_cache_reset
from messaging import services
from messaging.models import MessageStatus

pytestmark = pytest.mark.django_db


def _letter_sent(clock, make_variant, place_one, settings, **variant):
    """One letter planned and dispatched: the message, and the page written for the printer."""
    message = services.message_send(
        account=place_one(), variant=make_variant("letter", **variant), planned_at=clock.now
    )
    assert services.dispatch_due().sent == 1
    message.refresh_from_db()
    page = settings.MESSAGING_OUTBOX_DIR / "letters" / "2026-03-10" / f"{message.pk}.html"
    return message, page.read_text()


def test_letters_are_print_ready_pages_in_a_dated_batch_folder(
    clock, make_variant, place_one, settings, isolated
):
    message, html = _letter_sent(clock, make_variant, place_one, settings)
    assert message.provider_id == f"2026-03-10/{message.pk}"
    assert "@page { size: A4" in html
    assert "Ada Lovelace<br>1 Main St<br>02101 Boston<br>United States<br>" in html
    assert "Dear Ada Lovelace," in html and "Please pay $120.50." in html
    assert "This communication is from a debt collector." in html  # US initial disclosure
    assert "/m/c/" not in html  # paper has no tracked links
    assert "March 10, 2026" in html


def test_a_letter_prints_its_portal_link_as_a_qr_code_in_the_letters_language(
    clock, make_variant, place_one, settings, isolated
):
    from accounts.links import is_portal_url, letter_code_make
    from messaging.outbound import portal_qr_svg

    body = "Bonjour {{ first_name }},\n\nPayez ou convenez d\u2019un échéancier : {{ portal_link }}"
    message, html = _letter_sent(
        clock, make_variant, place_one, settings, language="fr", letter_body=body
    )
    (link,) = [url for url in message.links if is_portal_url(url)]
    assert link in html  # the address stays in the text, for those without a camera
    assert str(portal_qr_svg(message.links)) in html and '<svg viewBox="0 0 ' in html
    assert "Scannez ce code avec l\u2019appareil photo de votre téléphone" in html
    # For those without a camera: the site and the letter's code, to type.
    code = link.rstrip("/").rsplit("/", 1)[1]
    assert code == letter_code_make(debtor_id=message.debtor_id)
    home = settings.SITE_URL.split("://", 1)[1]
    assert f'Allez sur {home}/p/ et saisissez le code <b class="code">{code}</b>' in html


def _qr_read(qr) -> str:
    """What a camera reads off a QR code: its modules drawn with the quiet zone, decoded."""
    import numpy as np
    import zxingcpp

    modules = np.array([list(row) for row in qr.matrix], dtype=np.uint8)
    image = np.pad((1 - modules) * 255, 4, constant_values=255).astype(np.uint8)
    image = np.kron(image, np.ones((4, 4), dtype=np.uint8))  # four pixels a module
    return "".join(code.text for code in zxingcpp.read_barcodes(image))


def test_the_letters_qr_code_reads_as_the_standard_one_with_a_mask_near_its_best(settings):
    # The letter's QR code takes a fixed data mask instead of segno's scoring of all eight:
    # it must be the symbol the standard choice gives but for the mask, read the same, and
    # score close to the best mask by the standard's own penalty rules.
    from datetime import date, timedelta

    import segno
    from segno import encoder

    from accounts.links import portal_url
    from messaging import outbound

    assert outbound.QR_MASK is not None
    settings.SITE_URL = "https://collect.example-collections.com"
    ratios = []
    for debtor_id in (1, 7, 480, 32_767, 32_768, 1_048_575):
        for days in (0, 17, 300):
            with time_machine.travel(date(2026, 1, 5) + timedelta(days=days), tick=False):
                url = portal_url(debtor_id=debtor_id, paper=True)
            ours, standard = outbound.portal_qr(url), segno.make(url, error="m")
            assert (ours.designator, ours.mask) == (standard.designator, outbound.QR_MASK)
            assert _qr_read(ours) == _qr_read(standard) == url
            size = len(ours.matrix)
            best = min(
                encoder.evaluate_mask(segno.make(url, error="m", mask=m).matrix, size, size)
                for m in range(8)
            )
            ratios.append(encoder.evaluate_mask(ours.matrix, size, size) / best)
    assert max(ratios) < 1.3 and sum(ratios) / len(ratios) < 1.1


def test_a_letter_without_a_portal_link_prints_no_qr_code(
    clock, make_variant, place_one, settings, isolated
):
    # The default letter, "Please pay {{ balance }}.": no link.
    _message, html = _letter_sent(clock, make_variant, place_one, settings)
    assert "<svg" not in html and "Scan this code" not in html


def test_whatsapp_goes_to_twilio_with_whatsapp_addresses(clock, make_variant, place_one, twilio):
    variant = make_variant("whatsapp")
    account = place_one(debtor={"flags": ["consent_whatsapp"]})
    services.message_send(account=account, variant=variant, planned_at=clock.now)
    assert services.dispatch_due().sent == 1
    form = twilio.requests[0]["form"]
    assert (form["To"], form["From"]) == ("whatsapp:+16175550123", "whatsapp:+14155238886")
    assert form["Body"].endswith("Reply STOP to stop WhatsApp messages about this debt.")


def test_an_esp_through_anymail_gets_metadata_and_no_esp_tracking(
    clock, make_variant, place_one, settings
):
    settings.MESSAGING_EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.ANYMAIL = {"TEST_SEND_DEFAULTS": {}}
    variant = make_variant("email")
    message = services.message_send(account=place_one(), variant=variant, planned_at=clock.now)
    assert services.dispatch_due().sent == 1
    sent = mail.outbox[-1]
    assert sent.metadata == {"message_id": str(message.pk)}
    assert sent.track_clicks is False and sent.track_opens is False
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    message.refresh_from_db()
    assert message.provider == "anymail:test"
    assert message.provider_id == str(sent.anymail_status.message_id)


def test_a_text_message_without_the_regions_opt_out_wording_is_not_sent(
    clock, make_variant, place_one
):
    DisclosureRule.objects.filter(topic="opt_out_sms").delete()
    rules_cache_reset()
    variant = make_variant("sms")
    message = services.message_send(account=place_one(), variant=variant, planned_at=clock.now)
    assert message.status == MessageStatus.BLOCKED
    assert "no opt-out text for sms" in message.status_reason


def test_the_editor_page_shows_the_live_sms_segment_counter(client, make_variant):
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    variant = make_variant("sms", sms_text="Hi {{ first_name }} " + "x" * 170)
    html = client.get(
        reverse("wagtailsnippets_messaging_messagevariant:edit", args=[variant.pk])
    ).content.decode()
    assert 'data-sms-segments-for="id_sms_text"' in html
    assert "messaging/js/sms_segments.js" in html
    # "{" and "}" are GSM-7 extension characters: two septets each.
    assert "GSM-7, 194 characters, 2 segments (153 each)" in html
