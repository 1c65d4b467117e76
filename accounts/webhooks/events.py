"""Recording events: the transactional outbox of the webhooks.

`webhook_event_record` is called by `accounts.services` inside the transaction of the change
it reports: the event row, and one delivery row per enabled endpoint of the creditor that
subscribes to its type, commit with the change or not at all. After the commit the new
deliveries are handed to the delivery task (`accounts.webhooks.tasks.deliveries_send`); the
every-minute schedule sends whatever that missed.

A creditor without endpoints costs one indexed query and one insert per event (no delivery
rows); the events are kept for `GET /api/v1/events/` all the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from accounts.models import Account, AccountStatus, Debtor, Payment, PaymentPlan
from accounts.serializers import AccountOutput, PaymentOutput
from accounts.webhooks.models import (
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from accounts.webhooks.serializers import (
    DebtorPreferencesOutput,
    DisputeOutput,
    PaymentAttemptOutput,
    PlanOutput,
)

E = EventType
S = AccountStatus

_OUTPUT = {
    Account: AccountOutput,
    Payment: PaymentOutput,
    PaymentPlan: PlanOutput,
    Debtor: DebtorPreferencesOutput,
}

# Account statuses with an event of their own, sent besides `account.status_changed`.
_STATUS_EVENTS = {
    S.PAID: E.ACCOUNT_PAID,
    S.SETTLED: E.ACCOUNT_SETTLED,
    S.RECALLED: E.ACCOUNT_RECALLED,
    S.PAUSED: E.PAUSE_STARTED,
}
# Leaving `paused` ends the pause. The dispute events are not tied to the account's status:
# they report the portal's dispute itself (`dispute_event`), raised and resolved, whatever the
# account did meanwhile (a disputed account may be recalled or moved in the admin while its
# dispute stays open, and the demo seeder makes disputed accounts without a dispute).
_LEAVING_EVENTS = {S.PAUSED: E.PAUSE_ENDED}


def object_data(obj: models.Model) -> dict[str, Any]:
    """`obj` as the API returns it (its output serializer)."""
    return dict(_OUTPUT[type(obj)](obj).data)


def webhook_event_record(
    *, creditor_id: int, type: str, obj: models.Model, extra: dict[str, Any] | None = None
) -> WebhookEvent:
    """Record one event about `obj` (an account, payment, plan or debtor); `extra` adds keys
    beside `data.object` (e.g. `previous_status`). Call it inside the change's transaction."""
    return webhook_events_record(
        creditor_id=creditor_id, events=[(type, {"object": object_data(obj), **(extra or {})})]
    )[0]


def webhook_events_record(
    *, creditor_id: int, events: Sequence[tuple[str, dict[str, Any]]]
) -> list[WebhookEvent]:
    """Record events of one creditor, each `(type, data)`, with their deliveries: one query
    for the creditor's endpoints, one insert for the events and one for the deliveries."""
    if not events:
        return []
    now = timezone.now()
    # A microsecond apart: the events of one change list in the order they were recorded.
    rows = WebhookEvent.objects.bulk_create(
        WebhookEvent(
            creditor_id=creditor_id,
            type=str(kind),
            data=data,
            created_at=now + timedelta(microseconds=n),
        )
        for n, (kind, data) in enumerate(events)
    )
    endpoints = list(WebhookEndpoint.objects.filter(creditor_id=creditor_id, enabled=True))
    deliveries = [
        WebhookDelivery(endpoint=endpoint, event=event, next_attempt_at=now, created_at=now)
        for event in rows
        for endpoint in endpoints
        if endpoint.subscribes(event.type)
    ]
    if deliveries:
        WebhookDelivery.objects.bulk_create(deliveries)
        ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: deliveries_enqueue(ids), robust=True)
    return rows


def deliveries_enqueue(ids: list[int]) -> None:
    from django_q.tasks import async_task

    async_task("accounts.webhooks.tasks.deliveries_send", ids)


# --- The events of each kind of change, as `accounts.services` records them --------------------


def account_status_events(
    account: Account, old: str, *, extra: dict[str, Any] | None = None
) -> list[WebhookEvent]:
    """The events of an account's status change `old -> account.status`: always
    `account.status_changed`; also `account.paid`, `.settled`, `.recalled` or
    `pause.started` for those statuses, and `pause.ended` when the account leaves `paused`.
    `extra` adds keys to each event's data."""
    new = account.status
    obj = object_data(account)
    data = {"object": obj, "previous_status": old, **(extra or {})}
    kinds = [E.ACCOUNT_STATUS_CHANGED]
    if old in _LEAVING_EVENTS:
        kinds.append(_LEAVING_EVENTS[old])
    if new in _STATUS_EVENTS:
        kinds.append(_STATUS_EVENTS[new])
    return webhook_events_record(
        creditor_id=account.creditor_id, events=[(kind, data) for kind in kinds]
    )


def accounts_placed(accounts: Iterable[Account]) -> list[WebhookEvent]:
    """`account.placed` for each new account (with its debtor loaded), one creditor's."""
    accounts = list(accounts)
    if not accounts:
        return []
    data = AccountOutput(accounts, many=True).data
    return webhook_events_record(
        creditor_id=accounts[0].creditor_id,
        events=[(E.ACCOUNT_PLACED, {"object": dict(obj)}) for obj in data],
    )


def plans_event(plan_ids: Iterable[int], type: str, *, creditor_id: int) -> list[WebhookEvent]:
    """One `type` event per plan (e.g. `plan.completed` for the plans a payment completed)."""
    plans = (
        PaymentPlan.objects.filter(pk__in=list(plan_ids))
        .select_related("account")
        .prefetch_related("installments")
        .order_by("pk")
    )
    return webhook_events_record(
        creditor_id=creditor_id,
        events=[(type, {"object": object_data(plan)}) for plan in plans],
    )


def payment_attempt_failed(attempt: Any) -> WebhookEvent:
    """`payment.failed` about a card payment attempt that failed (the portal's `Checkout`, read
    as `PaymentAttemptOutput` reads it, with its account loaded). The portal calls it once,
    in the transaction that marks the attempt failed."""
    return webhook_events_record(
        creditor_id=attempt.account.creditor_id,
        events=[(E.PAYMENT_FAILED, {"object": dict(PaymentAttemptOutput(attempt).data)})],
    )[0]


def dispute_event(dispute: Any, type: str) -> WebhookEvent:
    """`dispute.opened` or `dispute.resolved` about a dispute (the portal's `PortalDispute`,
    read as `DisputeOutput` reads it, with its account loaded), in the transaction that
    raised or resolved it."""
    return webhook_events_record(
        creditor_id=dispute.account.creditor_id,
        events=[(type, {"object": dict(DisputeOutput(dispute).data)})],
    )[0]
