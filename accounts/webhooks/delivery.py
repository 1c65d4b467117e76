"""Sending deliveries: claim under a lease, POST signed, record the attempt, retry or give up.

1. *claim*: due pending deliveries of enabled endpoints are claimed with a token and a lease
   (`claimed_until`), `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent workers
   take disjoint rows.
2. *renew*: just before each POST the lease is renewed for that delivery, only if the claim
   is still this worker's; a POST therefore always starts with a whole lease ahead of it
   (`WEBHOOKS_CLAIM_LEASE_SECONDS`, far longer than one attempt's 10 s), so no other worker
   can POST the same delivery at the same time.
3. *POST* to the target checked again now (`safety.target_resolve`, connecting to the checked
   address), signed with the endpoint's secrets.
4. *record* the attempt and the outcome in one transaction: succeeded; or due again after an
   exponential, jittered delay; or, three days after the event, failed, and the endpoint
   disabled with an e-mail to the creditor's users.

A worker killed after 1 or 2 leaves claimed rows: once their lease runs out they are due
again and another worker sends them; nothing is lost. Killed during 3, the receiver may have
had the POST: it gets it again with the same `Collections-Event-Id` (at-least-once delivery,
as every webhook sender; receivers ignore an id they have seen).
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.webhooks import client, notify
from accounts.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from accounts.webhooks.safety import TargetRefused, target_resolve
from accounts.webhooks.serializers import EventOutput
from accounts.webhooks.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, signature_header

logger = logging.getLogger(__name__)

D = DeliveryStatus
RETRY_FOR = timedelta(days=3)
FIRST_RETRY_SECONDS = 60
LONGEST_RETRY_SECONDS = 6 * 3600
JITTER = 0.2  # each delay is drawn within 20% either side
BATCH = 20


@dataclass
class SendResult:
    claimed: int = 0
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0

    def describe(self) -> str:
        return (
            f"claimed={self.claimed} succeeded={self.succeeded} retrying={self.retrying} "
            f"failed={self.failed}"
        )


def lease() -> timedelta:
    return timedelta(seconds=settings.WEBHOOKS_CLAIM_LEASE_SECONDS)


def retry_delay(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 1 minute, doubling each time up to
    6 hours, each drawn within 20% either side (so failed receivers are not all retried at
    the same instant)."""
    base = min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), LONGEST_RETRY_SECONDS)
    spread = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    return timedelta(seconds=base * spread)


def _due(at: datetime):
    return WebhookDelivery.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=at),
        status=D.PENDING,
        next_attempt_at__lte=at,
        endpoint__enabled=True,
    )


def claim_due(*, at: datetime, limit: int = BATCH, ids: list[int] | None = None) -> list[int]:
    """Claim up to `limit` due deliveries (only those of `ids` when given); their ids."""
    token = uuid.uuid4().hex
    with transaction.atomic():
        qs = _due(at).order_by("next_attempt_at", "id")
        if ids is not None:
            qs = qs.filter(pk__in=ids)
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        chosen = list(qs.values_list("id", flat=True)[:limit])
        if chosen:
            WebhookDelivery.objects.filter(pk__in=chosen).update(
                claim=token, claimed_until=at + lease()
            )
    return list(
        WebhookDelivery.objects.filter(claim=token)
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)
    )


def deliveries_send_due(*, now: datetime | None = None, max_batches: int = 50) -> SendResult:
    """Send due deliveries, batch by batch, until none is due (the every-minute schedule)."""
    result = SendResult()
    for _ in range(max_batches):
        ids = claim_due(at=now or timezone.now())
        if not ids:
            break
        for delivery_id in ids:
            _send_claimed(delivery_id, result)
    return result


def deliveries_send(ids: list[int]) -> SendResult:
    """Send these deliveries now if they are due and unclaimed (enqueued after the commit
    that recorded their events)."""
    result = SendResult()
    for delivery_id in claim_due(at=timezone.now(), limit=len(ids), ids=list(ids)):
        _send_claimed(delivery_id, result)
    return result


def _renew(delivery_id: int) -> WebhookDelivery | None:
    """Renew this worker's claim just before a POST; the delivery, or None if the claim was
    lost (its lease ran out and another worker took it)."""
    now = timezone.now()
    delivery = (
        WebhookDelivery.objects.select_related("endpoint", "event")
        .filter(pk=delivery_id, status=D.PENDING)
        .first()
    )
    if delivery is None or not delivery.claim:
        return None
    renewed = WebhookDelivery.objects.filter(
        pk=delivery_id, claim=delivery.claim, claimed_until__gt=now
    ).update(claimed_until=now + lease())
    return delivery if renewed else None


def _send_claimed(delivery_id: int, result: SendResult) -> None:
    delivery = _renew(delivery_id)
    if delivery is None:
        return
    result.claimed += 1
    answer = attempt(delivery)
    outcome = _record(delivery, answer)
    setattr(result, outcome, getattr(result, outcome) + 1)


def attempt(delivery: WebhookDelivery) -> client.Answer:
    """One signed POST of the delivery's event to its endpoint, the target checked now."""
    endpoint, event = delivery.endpoint, delivery.event
    body = json.dumps(EventOutput(event).data, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        target = target_resolve(endpoint.url)
    except TargetRefused as refused:
        return client.Answer(None, "", 0, str(refused)[:300])
    now = int(timezone.now().timestamp())
    headers = {
        SIGNATURE_HEADER: signature_header(endpoint.signing_secrets(), now, body),
        EVENT_ID_HEADER: event.id,
    }
    return client.post(target, body, headers)


def _record(delivery: WebhookDelivery, answer: client.Answer) -> str:
    """Write the attempt and the delivery's next state in one transaction; the outcome
    (`succeeded`, `retrying`, `failed`)."""
    now = timezone.now()
    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        locked.attempts += 1
        WebhookAttempt.objects.create(
            delivery=locked,
            number=locked.attempts,
            manual=locked.manual,
            started_at=now - timedelta(milliseconds=answer.latency_ms),
            succeeded=answer.succeeded,
            status_code=answer.status_code,
            latency_ms=answer.latency_ms,
            response_body=answer.body[: WebhookAttempt.BODY_KEPT],
            error=answer.error[:300],
        )
        locked.last_attempt_at, locked.last_status_code = now, answer.status_code
        outcome = _outcome(locked, delivery, answer, now)
        locked.claim, locked.claimed_until = "", None
        locked.save()
    return outcome


def _outcome(locked: WebhookDelivery, delivery, answer: client.Answer, now: datetime) -> str:
    if answer.succeeded:
        locked.status, locked.next_attempt_at, locked.manual = D.SUCCEEDED, None, False
        return "succeeded"
    if locked.manual:
        # A manual re-send is one attempt: failed, it is not retried and disables nothing.
        locked.manual = False
        locked.status, locked.next_attempt_at = D.FAILED, None
        return "failed"
    if now - delivery.event.created_at < RETRY_FOR:
        locked.next_attempt_at = now + retry_delay(locked.attempts)
        return "retrying"
    locked.status, locked.next_attempt_at = D.FAILED, None
    endpoint_disable(
        delivery.endpoint,
        reason=f"Event {delivery.event_id} could not be delivered for 3 days "
        f"({locked.attempts} attempts; last: {answer.status_code or answer.error}).",
    )
    return "failed"


def endpoint_disable(endpoint: WebhookEndpoint, *, reason: str) -> bool:
    """Disable an endpoint that failed for 3 days and tell the creditor's users by e-mail
    (after the commit); True if it was enabled. Its pending deliveries end as failed
    (`pending_end`)."""
    now = timezone.now()
    changed = WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
        enabled=False, disabled_at=now, disabled_reason=reason[:300], updated_at=now
    )
    if changed:
        pending_end(endpoint.pk)
        logger.warning("webhook endpoint %s disabled after failed deliveries", endpoint.pk)
        transaction.on_commit(lambda: notify.endpoint_disabled(endpoint.pk), robust=True)
    return bool(changed)


def pending_end(endpoint_id: int) -> int:
    """End a disabled endpoint's pending deliveries as failed: enabled again, it receives
    new events only (the missed ones: `GET /api/v1/events/`, or a re-send). How many."""
    return WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status=D.PENDING).update(
        status=D.FAILED, next_attempt_at=None, claim="", claimed_until=None
    )
