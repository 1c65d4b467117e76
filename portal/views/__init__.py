"""The debtor's self-service pages (mounted at /p/ by `portal.urls`), one module per topic.

- `access`: the link exchange, the identity check, staying signed in, signing out, the
  language switch.
- `home`: the overview of the debtor's accounts, the history, receipts.
- `payments`: the pay form, the checkout pages, the provider webhook, settlements.
- `requests`: plans, pauses, disputes, contact preferences, call backs.

Server-rendered; every page works without JavaScript (`portal/static/portal/portal.js` only
focuses the error summary and opens the idle warning). Views read through `portal.selectors`
(always scoped to the session's debtor) and write through `portal.services`;
`portal.access.portal_page` guards each one (session, verification, idle expiry, language,
security headers). `portal.urls` names
them through this package, which re-exports every page.
"""

from portal.views.access import (
    language,
    letter_code,
    link_exchange,
    link_invalid,
    logout,
    stay,
    verify,
)
from portal.views.home import history, overview, receipt
from portal.views.payments import (
    authenticate,
    checkout,
    checkout_return,
    pay,
    settle,
    stripe_webhook,
)
from portal.views.requests import callback, dispute, pause, plan, preferences

__all__ = [
    "authenticate",
    "callback",
    "checkout",
    "checkout_return",
    "dispute",
    "history",
    "language",
    "letter_code",
    "link_exchange",
    "link_invalid",
    "logout",
    "overview",
    "pause",
    "pay",
    "plan",
    "preferences",
    "receipt",
    "settle",
    "stay",
    "stripe_webhook",
    "verify",
]
