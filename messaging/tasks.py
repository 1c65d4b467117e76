"""django-q2 tasks of the messaging app. Each takes ids, calls one service, and is safe to run
twice (a message that is no longer planned and due is left alone).

Schedules (created idempotently by migration 0003 and `manage.py messaging_schedules`):
`messaging.dispatch_due` every minute.
"""

from __future__ import annotations

import logging
from datetime import datetime

from accounts.models import Account
from messaging import services

logger = logging.getLogger(__name__)


def message_deliver(message_id: int) -> str:
    """Deliver one message now (enqueued by `message_send` after commit when it is due)."""
    result = services.message_deliver(message_id=message_id)
    return f"claimed={result.claimed} sent={result.sent}"


def conversion_attribute(account_id: int, at: str, kind: str, reference: str = "") -> str:
    """Credit a payment or plan to the last touched message (enqueued by the portal/payments
    after their transaction commits: `async_task("messaging.tasks.conversion_attribute",
    account.pk, payment.received_at.isoformat(), "payment", str(payment.pk))`)."""
    account = Account.objects.filter(pk=account_id).first()
    if account is None:
        return "no such account"
    message = services.conversion_attribute(
        account=account, at=datetime.fromisoformat(at), kind=kind, reference=reference
    )
    return f"converted message {message.pk}" if message else "no touched message in the window"


def dispatch_due() -> str:
    """Hand every due message to its backend (scheduled every minute); one log line when a
    run had anything to do, which is the worker's progress on the `make run` console."""
    result = services.dispatch_due()
    if result.claimed or result.released:
        logger.info("dispatch_due: %s", result.describe())
    return result.describe()
