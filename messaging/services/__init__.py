"""Writes of the messaging app, and the only way anything leaves the system.

- `message_send` / `messages_send` (sending.py): check (compliance, consent, flags, content),
  render, write the `Message` and its timeline entry in one transaction, enqueue after commit;
  `precheck`: the checks before compliance (account state, stop flags, opt-outs, consent, an
  address), which the planner also runs to drop channels before it chooses.
- `dispatch_due` / `message_deliver` (delivery.py): claim due messages, re-check compliance,
  hand them to the channel backends exactly once; `outbox_statistics_refresh` after bulk
  planning keeps the claim's query plan right.
- `event_record` (one) / `events_record` (many at once, set-based), `conversion_attribute`,
  tracking (events.py): what happened afterwards.
- `debtor_opt_out` / `debtor_opt_in` (preferences.py): opt-outs; `sms_inbound_handle`,
  `unsubscribe_apply` (inbound.py): what debtors send back.
- `webhook_receipt_claim` (receipts.py): a provider request acted on once, by its own id.
- `dispute_outcome_send` (notices.py): the debtor told how their dispute was resolved.
- `handoff_resend` / `handoff_close` (review.py): an operator's answer to a failed message.
- `portal_link_send` (links.py): a fresh portal link the debtor asked for, through
  `message_send`; `portal_lock_notify`: the debtor is told a portal link was locked.
"""

from messaging.services.delivery import (
    DispatchResult,
    dispatch_due,
    message_deliver,
    outbox_statistics_refresh,
)
from messaging.services.events import (
    EventIn,
    conversion_attribute,
    event_record,
    events_record,
    message_click,
    message_open,
)
from messaging.services.inbound import sms_inbound_handle, unsubscribe_apply
from messaging.services.links import portal_link_send, portal_lock_notify
from messaging.services.notices import dispute_outcome_send
from messaging.services.preferences import debtor_opt_in, debtor_opt_out
from messaging.services.receipts import body_digest, webhook_receipt_claim
from messaging.services.review import HandoffReviewError, handoff_close, handoff_resend
from messaging.services.sending import (
    MessageRefused,
    SendRequest,
    message_send,
    messages_send,
    precheck,
)

__all__ = [
    "DispatchResult",
    "EventIn",
    "HandoffReviewError",
    "MessageRefused",
    "SendRequest",
    "body_digest",
    "conversion_attribute",
    "debtor_opt_in",
    "debtor_opt_out",
    "dispatch_due",
    "dispute_outcome_send",
    "event_record",
    "events_record",
    "handoff_close",
    "handoff_resend",
    "message_click",
    "message_deliver",
    "message_open",
    "message_send",
    "messages_send",
    "outbox_statistics_refresh",
    "portal_link_send",
    "portal_lock_notify",
    "precheck",
    "sms_inbound_handle",
    "unsubscribe_apply",
    "webhook_receipt_claim",
]
