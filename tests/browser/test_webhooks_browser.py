"""The webhooks' delivery log in the Django admin, in Chromium, in the light and the dark
theme: the attempts (status, latency, the start of the answer) read under the admin's
Content-Security-Policy with no violation. Screenshots go to `SCREENSHOT_DIR` when set."""

from __future__ import annotations

import pytest

from tests.browser import test_csp_browser as csp_browser
from tests.browser.test_operations_browser import _screenshot

staff_page = csp_browser.staff_page
committed_baseline = csp_browser.committed_baseline

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_delivery_log_reads_in_the_admin(
    staff_page, live_server, committed_baseline, creditor, settings, monkeypatch, scheme
):
    from accounts.tests.factories import place, row
    from accounts.webhooks import delivery, events
    from accounts.webhooks import services as webhooks
    from accounts.webhooks.models import WebhookDelivery
    from accounts.webhooks.tests.receiver import Receiver

    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    monkeypatch.setattr(events, "deliveries_enqueue", lambda ids: None)
    receiver = Receiver(statuses=[503, 200])
    try:
        endpoint = webhooks.endpoint_create(creditor=creditor, url=receiver.start())
        place(creditor, row(1))
        delivery.deliveries_send_due()
        one = WebhookDelivery.objects.get(endpoint=endpoint)
        delivery.deliveries_send_due(now=one.next_attempt_at)
    finally:
        receiver.stop()
    page = staff_page
    page.emulate_media(color_scheme=scheme)
    page.goto(f"{live_server.url}/django-admin/webhooks/webhookdelivery/{one.pk}/change/")
    page.wait_for_load_state("networkidle")
    csp_browser._collect(page)
    assert not page.csp_problems, "\n".join(page.csp_problems)
    log = page.locator("#attempt_log-group").inner_text()
    assert "503" in log and "200" in log and "broken" in log
    _screenshot(page, f"webhooks-delivery-{scheme}.png")
    page.goto(f"{live_server.url}/django-admin/webhooks/webhookendpoint/")
    assert endpoint.url in page.locator("#result_list").inner_text()
    _screenshot(page, f"webhooks-endpoints-{scheme}.png")
