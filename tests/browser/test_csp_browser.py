"""Every kind of page the staff use loads under the site's Content-Security-Policy with no
violation: the Wagtail admin (dashboard, a message variant's edit form with its live preview,
the outbox and a message as sent, the two-factor enrolment), Django admin change forms, and the
API docs. Violations are caught both as `securitypolicyviolation` events (in every frame) and as
Chromium's console errors."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from messaging import services
from messaging.models import MessageStatus
from messaging.tests import conftest as messaging_fixtures

# The messaging tests' fixtures: a clock inside contact hours, approved variants, placed debtors.
clock = messaging_fixtures.clock
committed_baseline = messaging_fixtures.committed_baseline
make_variant = messaging_fixtures.make_variant
place_one = messaging_fixtures.place_one
reviewer = messaging_fixtures.reviewer

pytestmark = pytest.mark.browser

PASSWORD = "tally-ledger-orchard-51"
LISTEN = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  const where = window.top === window ? '' : ' (in a frame)';
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`
    + ` at ${e.sourceFile || e.documentURI}:${e.lineNumber}${where}`);
  console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI);
});
"""


@pytest.fixture
def staff_page(page, live_server, committed_baseline):
    get_user_model().objects.create_superuser("ops", "ops@example.com", PASSWORD)
    page.context.add_init_script(LISTEN)
    page.csp_problems = []
    page.on(
        "console",
        lambda m: (
            page.csp_problems.append(f"{page.url}: {m.text}")
            if m.type == "error" and "Content Security Policy" in m.text
            else None
        ),
    )
    page.goto(live_server.url + "/admin/login/")
    page.fill("input[name=username]", "ops")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/admin/")
    return page


def _collect(page) -> None:
    """Keep the violations the page's frames saw (their lists go with the page)."""
    for frame in page.frames:
        try:
            seen = frame.evaluate("() => window.__cspViolations || []")
        except Exception:  # noqa: S112 - a sandboxed frame without scripts has no list
            continue
        page.csp_problems += [f"{page.url}: {v}" for v in seen]


def _visit(page, url: str, ready: str) -> None:
    response = page.goto(url)
    assert "content-security-policy" in response.headers, url  # a policy is in force
    page.wait_for_selector(ready)
    page.wait_for_load_state("networkidle")
    _collect(page)


def test_the_admins_and_the_api_docs_load_with_no_csp_violation(
    staff_page,
    live_server,
    clock,
    make_variant,
    place_one,
):
    page = staff_page
    variant = make_variant("email")
    message = services.message_send(account=place_one(), variant=variant, planned_at=clock.now)
    services.dispatch_due()  # unless the commit already handed it over (tasks run in-process)
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT, message.status_reason
    base = live_server.url

    _visit(page, base + "/admin/", "main")
    _visit(page, base + f"/admin/snippets/messaging/messagevariant/edit/{variant.pk}/", "form")
    page.click("[data-side-panel-toggle='preview']")
    page.wait_for_selector("iframe[id^='w-preview-iframe'], .preview-panel iframe")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)  # the preview frame renders after its POST
    _collect(page)
    # The tone chooser ("Change"): a modal whose content is fetched and started by script.
    page.click("#id_tone-chooser .w-dropdown__toggle")
    page.locator("[data-chooser-action-choose]:visible").first.click()
    page.wait_for_selector(".modal-content a, .modal-content table")
    page.wait_for_load_state("networkidle")
    _collect(page)
    _visit(page, base + "/admin/messaging/outbox/", "main")
    _visit(page, base + reverse("messaging_outbox:inspect", args=[message.pk]), "iframe")
    _visit(page, base + "/admin/2fa/setup/", "img.staff-auth__qr")
    _visit(page, base + f"/django-admin/accounts/debtor/{message.debtor_id}/change/", "form")
    _visit(page, base + f"/django-admin/accounts/account/{message.account_id}/change/", "form")
    _visit(page, base + f"/django-admin/messaging/message/{message.pk}/change/", "form")
    _visit(page, base + "/django-admin/auth/user/1/change/", "form")
    _visit(page, base + "/api/docs/", ".swagger-ui .info")
    _visit(page, base + "/", "h1")

    assert not page.csp_problems, "\n".join(page.csp_problems)
