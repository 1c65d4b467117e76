"""The work queues in Chromium: an operator resolves a dispute from its page and logs a
call-back's outcome (a promise to pay), in the light and the dark theme, under the admin's
Content-Security-Policy with no violation. Screenshots go to the folder named by
`SCREENSHOT_DIR` when it is set (CI keeps them as artifacts)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from messaging.services.handoff import HANDOFF_UNCONFIRMED
from portal.models import CallbackRequest, CallbackStatus, DisputeStatus, PortalDispute
from portal.selectors import debtor_today
from tests.browser import test_csp_browser as csp_browser
from tests.browser.axe import assert_accessible
from tests.queues_setup import callback_of, dispute_of, failed_message, notices

staff_page = csp_browser.staff_page
clock = csp_browser.clock
committed_baseline = csp_browser.committed_baseline
make_variant = csp_browser.make_variant
reviewer = csp_browser.reviewer
notices = notices

pytestmark = pytest.mark.browser


def _screenshot(page, name: str) -> None:
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_an_operator_resolves_a_dispute_and_logs_a_call(
    staff_page, live_server, clock, creditor, notices, scheme
):
    page = staff_page
    page.emulate_media(color_scheme=scheme)
    page.set_viewport_size({"width": 1280, "height": 1100})
    dispute = dispute_of(creditor)
    late = dispute_of(creditor)
    PortalDispute.objects.filter(pk=late.pk).update(due_at=clock.now - timedelta(days=2))
    callback = callback_of(creditor)

    page.goto(live_server.url + "/admin/")
    page.wait_for_selector("[data-work-queues]")
    _screenshot(page, f"queues-home-{scheme}.png")
    assert_accessible(page, f"queues-home ({scheme})")

    page.goto(live_server.url + "/admin/queues/disputes/")
    page.wait_for_selector(".queue-overdue")
    _screenshot(page, f"queues-disputes-{scheme}.png")
    assert_accessible(page, f"queues-disputes ({scheme})")

    page.goto(live_server.url + f"/admin/queues/disputes/{dispute.pk}/")
    page.wait_for_selector("[data-resolve-form]")
    page.click("button[value=assign_me]")
    page.wait_for_selector("[data-assigned]:has-text('ops')")
    page.check("input[name=outcome][value=debt_stands]")
    page.fill("textarea[name=note]", "The creditor sent the signed contract.")
    page.click("[data-resolve-form] button[type=submit]")
    page.wait_for_selector("[data-status=debt_stands]")
    page.wait_for_load_state("networkidle")
    csp_browser._collect(page)
    _screenshot(page, f"queues-dispute-resolved-{scheme}.png")
    assert_accessible(page, f"queues-dispute-resolved ({scheme})")
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.DEBT_STANDS and dispute.outcome_message_id
    assert page.locator("a:has-text('As sent')").count() == 1

    page.goto(live_server.url + f"/admin/queues/callbacks/{callback.pk}/")
    page.wait_for_selector("[data-may-call=yes]")
    _screenshot(page, f"queues-callback-open-{scheme}.png")
    assert_accessible(page, f"queues-callback-open ({scheme})")
    page.check("input[name=outcome][value=promise]")
    page.click("[data-outcome-form] button[type=submit]")  # no amount: a form error
    page.wait_for_selector("text=Enter the amount promised.")
    page.check("input[name=outcome][value=promise]")
    page.fill("input[name=promise_amount]", "40")
    due = debtor_today(callback.debtor) + timedelta(days=7)
    page.fill("input[name=promise_date]", due.isoformat())
    page.click("[data-outcome-form] button[type=submit]")
    page.wait_for_selector("[data-promise=pending]")
    page.wait_for_load_state("networkidle")
    csp_browser._collect(page)
    _screenshot(page, f"queues-callback-logged-{scheme}.png")
    assert_accessible(page, f"queues-callback-logged ({scheme})")
    assert CallbackRequest.objects.get(pk=callback.pk).status == CallbackStatus.DONE

    failed = failed_message(creditor, notices["collection"], reason=HANDOFF_UNCONFIRMED + ": x")
    page.goto(live_server.url + "/admin/queues/handoffs/")
    page.wait_for_selector(f"text={failed.account.external_ref} — {failed.debtor.full_name}")
    _screenshot(page, f"queues-handoffs-{scheme}.png")
    assert_accessible(page, f"queues-handoffs ({scheme})")
    page.goto(live_server.url + f"/admin/queues/handoffs/{failed.pk}/")
    page.wait_for_selector("[data-unconfirmed]")
    page.click("[data-resend]")
    page.wait_for_selector("[data-review=resent]")
    page.wait_for_load_state("networkidle")
    csp_browser._collect(page)
    _screenshot(page, f"queues-handoff-resent-{scheme}.png")
    assert_accessible(page, f"queues-handoff-resent ({scheme})")
    assert not page.csp_problems, "\n".join(page.csp_problems)
