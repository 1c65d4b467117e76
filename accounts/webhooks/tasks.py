"""django-q2 tasks of the webhooks. Each is safe to run twice and in several workers at once
(deliveries are claimed under a lease).

Schedules (created idempotently by migration 0002 and `accounts.webhooks.schedules`):
`webhooks.deliver_due` every minute, `webhooks.events_prune` daily.
"""

from __future__ import annotations

import logging

from accounts.webhooks import delivery, services

logger = logging.getLogger(__name__)


def deliveries_send(ids: list[int]) -> str:
    """Send the deliveries of events just committed (enqueued on commit)."""
    return delivery.deliveries_send(ids).describe()


def deliver_due() -> str:
    """Send every due delivery: first attempts a lost task missed, retries, re-sends, and
    those of a killed worker once their lease ran out."""
    result = delivery.deliveries_send_due()
    if result.claimed:
        logger.info("webhooks deliver_due: %s", result.describe())
    return result.describe()


def events_prune() -> str:
    return f"deleted={services.events_prune()}"
