"""WCAG 2.2 AA in CI: axe-core (tests/browser/axe.py) checks every state of the debtor's pages
in English, French and German, on a desktop screen and on a phone (390 x 844).

One walk per language and screen reaches each page state the other browser tests reach and
the ones they do not (every form with its errors, each payment outcome, the idle warning):
the link that cannot be used and the new link asked for, no session, the identity check
(empty, invalid, wrong answers), locked and switched-off links, the overview and its notice,
the plan (empty, refused, schedule), paying (with the plan's notice, refused, declined, the
bank's confirmation, received, processing), the receipt, the settlement offer, breathing
space, dispute, contact preferences (saved), call back, history, the idle warning, signed
out, and the e-mail unsubscribe page and its confirmation. Every violation of every state is
listed together when it fails.

Error states are also checked for what axe cannot see: the title starts with "Error:" in the
page's language and the error summary has the focus.
"""

from __future__ import annotations

import re
import time
import uuid
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from accounts.links import portal_token_make
from accounts.tests.factories import CreditorFactory, place, row
from messaging import tracking
from portal.models import Checkout, VerificationLock
from tests.browser.axe import axe_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENS = {"desktop": (1280, 900), "phone": (390, 844)}
ERROR_PREFIX = {"en": "Error:", "fr": "Erreur :", "de": "Fehler:"}
CARD = {"card_number": "4000 0025 0000 3155", "exp_month": "12", "exp_year": "2099", "cvc": "123"}
DECLINED = {**CARD, "card_number": "4000 0000 0000 0002"}
STATES_CHECKED: list[str] = []  # every state of every walk, for the summary line


class Walk:
    """Goes from page state to page state, running axe on each and keeping what it finds."""

    def __init__(self, page, base: str, language: str) -> None:
        self.page, self.base, self.language = page, base, language
        self.problems: list[str] = []
        self.titles: dict[str, str] = {}

    def check(self, state: str, *, error: bool = False) -> None:
        page = self.page
        page.wait_for_load_state("load")
        self.titles[state] = page.title()
        STATES_CHECKED.append(state)
        found = axe_violations(page)
        if error:
            found += self._error_state_problems()
        if found:
            self.problems.append(f"{state} ({page.url}):\n  " + "\n  ".join(found))

    def _error_state_problems(self) -> list[str]:
        found = []
        title = self.page.title()
        if not title.startswith(ERROR_PREFIX[self.language] + " "):
            found.append(f"the title does not start with the error prefix: {title!r}")
        focused = self.page.evaluate("() => document.activeElement.matches('[data-error-summary]')")
        if not focused:
            found.append("the error summary does not have the focus")
        return found

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def submit(self, button: str = "main form button[type=submit]", **fields: str) -> None:
        for name, value in fields.items():
            self.page.fill(f"main [name={name}]", value)
        with self.page.expect_navigation():
            self.page.click(button)


def _identity(walk: Walk, postal: str = "02101") -> None:
    walk.submit(day="3", month="2", year="1980", postal_code=postal)


@pytest.fixture
def walked(browser, live_server, settings, request):
    """A signed-out browser page of the given screen size, and the debtor's data."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.PORTAL_LOCKOUT_STEPS_MINUTES = [15]  # one lock, then the link is switched off
    language, screen = request.param
    width, height = SCREENS[screen]
    creditor = CreditorFactory(
        name="Acme Energy",
        slug="acme",
        default_currency="USD",
        settlement_allowed=True,
        max_settlement_discount_pct=20,
    )
    account, locked = place(
        creditor,
        row(1, debtor={"language": language}),
        row(2, debtor={"language": language}),
    )
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield Walk(page, live_server.url, language), account, locked
    context.close()


def _signed_out_states(walk: Walk, account, locked) -> None:
    walk.go(f"/p/{'x' * 40}/")  # a link that is no link
    walk.check("link cannot be used")
    walk.submit()
    walk.check("new link asked for")
    walk.page.context.clear_cookies()
    walk.go("/p/")
    walk.check("no session")

    walk.go(f"/p/{portal_token_make(debtor_id=locked.debtor_id)}/")
    for _ in range(5):
        _identity(walk, postal="99999")
    walk.check("locked")
    VerificationLock.objects.update(locked_until=None)  # the 15 minutes have passed
    walk.go("/p/verify/")
    for _ in range(5):
        _identity(walk, postal="99999")
    walk.check("link switched off")
    walk.page.context.clear_cookies()

    walk.go(f"/p/{portal_token_make(debtor_id=account.debtor_id)}/")
    walk.check("identity check")
    walk.submit()
    walk.check("identity check, nothing entered", error=True)
    walk.submit(day="31", month="2", year="1980", postal_code="02101")
    walk.check("identity check, no such date", error=True)
    _identity(walk, postal="99999")
    walk.check("identity check, wrong answer", error=True)
    _identity(walk)
    walk.check("overview")


def _plan_and_payments(walk: Walk, account) -> None:
    page = walk.page
    walk.go(f"/p/a/{account.pk}/plan/")
    walk.check("plan")
    walk.submit(count="1", first_due=timezone.localdate().isoformat())
    walk.check("plan, refused", error=True)
    walk.submit("main form[method=get] button", count="3")
    walk.check("plan, schedule")
    walk.submit("main form[method=post] button")
    walk.check("pay the first instalment (notice)")

    walk.submit("main form button[type=submit]")
    walk.check("pay, nothing entered", error=True)
    walk.submit(**DECLINED)
    walk.check("payment declined")
    declined = page.title()
    walk.go(f"/p/a/{account.pk}/pay/?purpose=instalment")
    walk.submit(**CARD)
    walk.check("bank's confirmation")
    walk.submit("main form button[name=approve]")
    walk.check("payment received")
    assert page.title() != declined, "the declined and the received payment share a title"
    checkout_id = uuid.UUID(re.search(r"/p/pay/([0-9a-f-]+)/", page.url).group(1))
    page.click("main a.button")
    walk.check("receipt")
    Checkout.objects.filter(pk=checkout_id).update(status="pending")  # as before a webhook
    walk.go(f"/p/pay/{checkout_id}/")
    walk.check("payment processing")
    assert not page.locator("meta[http-equiv=refresh]").count()


def _requests(walk: Walk, account) -> None:
    walk.go(f"/p/a/{account.pk}/settle/")
    walk.check("settlement offer")
    walk.submit()
    walk.check("settlement offer, nothing entered", error=True)
    walk.go(f"/p/a/{account.pk}/pause/")
    walk.check("breathing space")
    walk.submit(days="0")
    walk.check("breathing space, refused", error=True)
    walk.go("/p/preferences/")
    walk.check("contact preferences")
    walk.submit()
    walk.check("contact preferences saved")
    walk.go("/p/callback/")
    walk.check("call back")
    walk.submit()
    walk.check("call back, nothing chosen", error=True)
    walk.go("/p/history/")
    walk.check("history")
    walk.go(f"/p/a/{account.pk}/dispute/")
    walk.check("dispute")
    walk.submit()
    walk.check("dispute, nothing chosen", error=True)
    walk.page.check("main input[name=reason] >> nth=0")
    walk.submit()
    walk.check("overview after the dispute (notice)")


def _idle_and_signed_out(walk: Walk, account) -> None:
    page = walk.page
    page.clock.install()
    walk.go("/p/history/")
    page.clock.run_for("28:30")  # two minutes before the 30 would end the session
    page.wait_for_selector("dialog#idle-warning[open]")
    walk.check("idle warning")
    page.click("dialog#idle-warning [data-stay] button")
    page.wait_for_selector("dialog#idle-warning:not([open])", state="attached")
    walk.check("idle warning closed")
    with page.expect_navigation():
        page.click("footer button.link")
    walk.check("signed out")

    path = urlsplit(tracking.unsubscribe_url(debtor_id=account.debtor_id, channel="email")).path
    walk.go(path)
    walk.check("unsubscribe")
    walk.submit("main form button")
    walk.check("unsubscribed")


@pytest.mark.parametrize(
    "walked",
    [(language, screen) for language in ("en", "fr", "de") for screen in SCREENS],
    ids=lambda p: "-".join(p),
    indirect=True,
)
def test_every_portal_page_state_has_no_wcag_violation(walked):
    walk, account, locked = walked
    started = time.monotonic()
    _signed_out_states(walk, account, locked)
    _plan_and_payments(walk, account)
    _requests(walk, account)
    _idle_and_signed_out(walk, account)
    assert len(set(walk.titles.values())) > len(walk.titles) // 2  # pages are told apart
    print(f"{len(walk.titles)} states in {time.monotonic() - started:.1f} s")
    assert not walk.problems, "\n".join(walk.problems)


def test_axe_reports_what_it_finds(browser):
    """The check can fail: a page with a missing language, a field without a label, targets
    under 24 px (a WCAG 2.2 AA rule) and text outside any landmark is reported, rule by rule."""
    page = browser.new_page()
    page.set_content(
        "<!doctype html><html><head><title>Bad</title></head><body><h1>Bad</h1><p>Loose</p>"
        "<main><input><button class='a'>a</button><button class='a'>b</button></main>"
        "<style>.a { width: 10px; height: 10px; padding: 0; border: 0; margin: 0 }</style>"
        "</body></html>"
    )
    rules = {line.split(" ", 1)[0] for line in axe_violations(page)}
    page.close()
    assert rules == {"html-has-lang", "label", "target-size", "region"}


WORDS_SPLIT = """() => {
  const split = [];
  for (const cell of document.querySelectorAll('th, td')) {
    const text = cell.firstChild;
    if (!text || text.nodeType !== Node.TEXT_NODE) continue;
    for (const match of text.data.matchAll(/\\S+/g)) {
      const word = document.createRange();
      word.setStart(text, match.index);
      word.setEnd(text, match.index + match[0].length);
      const lines = new Set([...word.getClientRects()].map(r => Math.round(r.top)));
      if (lines.size > 1) split.push(match[0]);
    }
  }
  return split;
}"""


def test_german_tables_keep_their_words_whole_at_320_pixels(page, live_server, settings):
    settings.SESSION_COOKIE_SECURE = False
    creditor = CreditorFactory(name="Acme Energy", slug="acme", default_currency="EUR")
    (account,) = place(creditor, row(1, currency="EUR", debtor={"language": "de"}))
    page.set_viewport_size({"width": 320, "height": 640})
    walk = Walk(page, live_server.url, "de")
    walk.go(f"/p/{portal_token_make(debtor_id=account.debtor_id)}/")
    _identity(walk)
    walk.go(f"/p/a/{account.pk}/plan/?frequency=weekly&count=12&first_due=")
    walk.submit("main form[method=get] button", first_due=timezone.localdate().isoformat())
    schedule = page.evaluate(WORDS_SPLIT)
    walk.submit("main form[method=post] button")
    walk.submit(**{**CARD, "card_number": "4242 4242 4242 4242"})
    walk.go("/p/history/")
    assert page.locator("th").count() >= 8  # the payments' table and the plan's
    assert (schedule, page.evaluate(WORDS_SPLIT)) == ([], [])
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
