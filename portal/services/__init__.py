"""Writes of the portal, one module per topic. Each public function validates, then does its
writes in one transaction together with the debtor's timeline entry.

- `access`: link exchange, the identity check and its escalating lockout, fresh links.
- `checkout`: card payments through the gateway, exactly once; the gateway's webhook.
- `settlement`: settlement offers and settling an account paid in full at a discount.
- `requests`: plans, pauses, disputes (and their documents), call backs.
- `disputes`: the disputes queue: assign, wait for evidence, resolve (the outcome sent).
- `callbacks`: the call-backs queue: assign, "may I call now", the call's outcome in the
  contact ledger, promises to pay followed up.
- `preferences`: contact channels, time windows, language.
- `instalments`: the scheduled check of missed instalments and broken plans.
- `pauses`: the scheduled end of breathing spaces that are over.
- `conversion`: telling messaging that a payment or plan happened.
- `common`: the actor name, `PortalError`, the timeline entry.

Callers: `portal.views` (the debtor), `portal.admin` (operators), `portal.tasks` (the
scheduler) and the Stripe webhook. Every account, plan, instalment and debtor-flag change goes
through `accounts.services` (`payment_record`, `plan_create`, `account_pause`,
`account_pause_end`, `account_dispute`, `account_settle`, `account_transition`,
`installments_miss`, `plan_break`, `debtor_preferences_set`), each writing its timeline entry
in the same transaction; the portal writes only its own rows (checkouts, offers, requests).
Import from `portal.services`, which re-exports the public names of every topic module.
"""

from portal.services.access import (
    Verification,
    VerifyOutcome,
    identity_verify,
    ip_digest,
    ip_lockout_applies,
    link_open,
    link_request,
    link_request_after_lockout,
    link_request_dispatch,
    lock_notify_dispatch,
    lockout_steps,
    postal_matches,
    postal_normalise,
    verification_state,
)
from portal.services.callbacks import (
    CallbackError,
    callback_assign,
    callback_call_check,
    callback_outcome_log,
    promises_check,
)
from portal.services.checkout import (
    checkout_amount,
    checkout_apply,
    checkout_authenticate,
    checkout_refresh,
    checkout_start,
    webhook_handle,
)
from portal.services.common import (
    ACTOR,
    CALLBACK_DAYS,
    CHANNELS,
    PLAN_START_DAYS,
    STAGE_MISSED_INSTALMENT,
    STAGE_PAUSE_ENDING,
    PortalError,
)
from portal.services.conversion import (
    conversion_notify,
)
from portal.services.disputes import (
    dispute_assign,
    dispute_resolve,
    dispute_response_days,
    dispute_wait,
)
from portal.services.instalments import (
    installments_mark_missed,
)
from portal.services.pauses import (
    pauses_end_expired,
)
from portal.services.preferences import (
    TIME_WINDOWS,
    language_set,
    preferences_update,
    time_window_of,
)
from portal.services.requests import (
    DISPUTABLE,
    PAUSABLE,
    PLANNABLE,
    DocumentKind,
    callback_mark_done,
    callback_request,
    dispute_raise,
    document_check,
    pause_request,
    plan_accept,
    plan_preview,
    plan_refusal,
)
from portal.services.settlement import (
    SETTLEABLE,
    settlement_offer_make,
    settlement_offer_valid,
)

__all__ = [
    "ACTOR",
    "CALLBACK_DAYS",
    "CHANNELS",
    "DISPUTABLE",
    "PAUSABLE",
    "PLANNABLE",
    "PLAN_START_DAYS",
    "SETTLEABLE",
    "STAGE_MISSED_INSTALMENT",
    "STAGE_PAUSE_ENDING",
    "TIME_WINDOWS",
    "CallbackError",
    "DocumentKind",
    "PortalError",
    "Verification",
    "VerifyOutcome",
    "callback_assign",
    "callback_call_check",
    "callback_mark_done",
    "callback_outcome_log",
    "callback_request",
    "checkout_amount",
    "checkout_apply",
    "checkout_authenticate",
    "checkout_refresh",
    "checkout_start",
    "conversion_notify",
    "dispute_assign",
    "dispute_raise",
    "dispute_resolve",
    "dispute_response_days",
    "dispute_wait",
    "document_check",
    "identity_verify",
    "installments_mark_missed",
    "ip_digest",
    "ip_lockout_applies",
    "language_set",
    "link_open",
    "link_request",
    "link_request_after_lockout",
    "link_request_dispatch",
    "lock_notify_dispatch",
    "lockout_steps",
    "pause_request",
    "pauses_end_expired",
    "plan_accept",
    "plan_preview",
    "plan_refusal",
    "postal_matches",
    "postal_normalise",
    "preferences_update",
    "promises_check",
    "settlement_offer_make",
    "settlement_offer_valid",
    "time_window_of",
    "verification_state",
    "webhook_handle",
]
