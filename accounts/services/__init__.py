"""Writes of the accounts domain, one module per topic. Each public function is one
transaction with its timeline rows.

- `activity`: the debtor's timeline (`activity_record`) and the staff access log.
- `placement`: accounts and debtors placed by a creditor (`placement_upsert`).
- `status`: account status changes (`account_transition`, `account_recall`, `account_close`,
  `account_pause`, `account_pause_end`, `account_dispute`, `account_settle`), each through
  `accounts.transitions.transition_save`, which cannot save a status without its entry.
- `payments`: money received (`payment_record`) and its allocation to instalments.
- `plans`: plan schedules (`plan_schedule`); `plan_check`, the one owner of every plan rule,
  refusing with `PlanRefused` (its `rule` and `field`); `plan_counts`, `plan_create`, missed
  instalments and broken plans (`installments_miss`, `plan_break`).
- `flags`: the debtor's own requests: opt-outs and contact preferences (`debtor_opt_out`,
  `debtor_opt_in`, `debtor_preferences_set`), the only writers of `opted_out_<channel>`.

Callers: the creditor API (`accounts.apis`), the CSV import command and admin page, the demo
seeder, the portal (payments, plans, pauses, disputes, settlements, preferences), messaging
(opt-outs) and every app that adds to the timeline. Import from `accounts.services`, which
re-exports the public names of every topic module.
"""

from accounts.services.activity import activity_record, debtor_data_access_record
from accounts.services.flags import debtor_opt_in, debtor_opt_out, debtor_preferences_set
from accounts.services.payments import PaymentRefused, payment_record
from accounts.services.placement import (
    DEBTOR_OWNED_FLAGS,
    ERASED_DEBTOR_ERROR,
    PlacementResult,
    PlacementTooLarge,
    placement_upsert,
)
from accounts.services.plans import (
    PLAN_RULES,
    PLAN_START_DAYS,
    PLANNABLE,
    SELF_SERVICE_MIN_COUNT,
    PlanRefused,
    installments_miss,
    plan_break,
    plan_check,
    plan_counts,
    plan_create,
    plan_schedule,
)
from accounts.services.status import (
    account_close,
    account_dispute,
    account_lock,
    account_move,
    account_pause,
    account_pause_end,
    account_recall,
    account_settle,
    account_transition,
    plans_end,
)

__all__ = [
    "DEBTOR_OWNED_FLAGS",
    "ERASED_DEBTOR_ERROR",
    "PLANNABLE",
    "PLAN_RULES",
    "PLAN_START_DAYS",
    "SELF_SERVICE_MIN_COUNT",
    "PaymentRefused",
    "PlacementResult",
    "PlacementTooLarge",
    "PlanRefused",
    "account_close",
    "account_dispute",
    "account_lock",
    "account_move",
    "account_pause",
    "account_pause_end",
    "account_recall",
    "account_settle",
    "account_transition",
    "activity_record",
    "debtor_data_access_record",
    "debtor_opt_in",
    "debtor_opt_out",
    "debtor_preferences_set",
    "installments_miss",
    "payment_record",
    "placement_upsert",
    "plan_break",
    "plan_check",
    "plan_counts",
    "plan_create",
    "plan_schedule",
    "plans_end",
]
