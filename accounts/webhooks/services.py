"""Writes of the webhooks: endpoints (create, change, delete, roll the secret), manual
re-sends, and the retention of events. The API and the admin call these."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Creditor, DomainError
from accounts.webhooks.delivery import pending_end
from accounts.webhooks.events import deliveries_enqueue
from accounts.webhooks.models import (
    ALL_EVENTS,
    DeliveryStatus,
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    secret_new,
)
from accounts.webhooks.safety import TargetRefused, target_resolve

ROLL_OVERLAP = timedelta(hours=24)
MAX_ENDPOINTS = 16


class EndpointRefused(DomainError):
    """An endpoint change the rules refuse; `field` names the input at fault."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def event_types_clean(types: Sequence[str]) -> list[str]:
    """The subscribed types, deduplicated in order; `[]` for every event."""
    unknown = [t for t in types if t != ALL_EVENTS and t not in EventType.values]
    if unknown:
        raise EndpointRefused(f"Unknown event type {unknown[0]!r}.", field="event_types")
    kept = list(dict.fromkeys(types))
    return [] if ALL_EVENTS in kept else kept


def url_check(url: str) -> str:
    """`url` if the platform may send to it (https, a public address): `safety`'s rules."""
    try:
        target_resolve(url)
    except TargetRefused as refused:
        raise EndpointRefused(str(refused), field="url") from refused
    return url


def endpoint_create(
    *,
    creditor: Creditor,
    url: str,
    event_types: Sequence[str] = (),
    description: str = "",
    enabled: bool = True,
) -> WebhookEndpoint:
    """A new endpoint with a new signing secret (the caller shows it once)."""
    types = event_types_clean(event_types)
    url_check(url)
    with transaction.atomic():
        # The creditor's requests count one after the other: two at once could otherwise both
        # find room for the last endpoint (test_api.py holds two threads to one 201, one 400).
        Creditor.objects.select_for_update().filter(pk=creditor.pk).first()
        if WebhookEndpoint.objects.filter(creditor=creditor).count() >= MAX_ENDPOINTS:
            raise EndpointRefused(
                f"A creditor may have at most {MAX_ENDPOINTS} webhook endpoints.", field="url"
            )
        return WebhookEndpoint.objects.create(
            creditor=creditor,
            url=url,
            event_types=types,
            description=description,
            enabled=enabled,
        )


def endpoint_update(endpoint: WebhookEndpoint, **changes) -> WebhookEndpoint:
    """Change an endpoint's `url`, `event_types`, `description` or `enabled`. Enabling one
    clears why it was disabled; disabling ends its pending deliveries as failed."""
    if "event_types" in changes:
        changes["event_types"] = event_types_clean(changes["event_types"])
    if "url" in changes:
        url_check(changes["url"])
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        was_enabled = locked.enabled
        for name, value in changes.items():
            setattr(locked, name, value)
        if locked.enabled and not was_enabled:
            locked.disabled_at, locked.disabled_reason = None, ""
        locked.updated_at = timezone.now()
        locked.save()
        if was_enabled and not locked.enabled:
            pending_end(locked.pk)
    return locked


def endpoint_delete(endpoint: WebhookEndpoint) -> None:
    """Delete an endpoint with its deliveries and their log (the events stay)."""
    endpoint.delete()


def secret_roll(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new signing secret; the old one keeps signing deliveries (a second `v1=`) for 24
    hours, so receivers can switch over. The caller shows the new secret once."""
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        now = timezone.now()
        locked.previous_secret = locked.secret
        locked.previous_secret_expires_at = now + ROLL_OVERLAP
        locked.secret = secret_new()
        locked.updated_at = now
        locked.save()
    return locked


def delivery_resend(delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now, whatever its status: one attempt for a delivered or
    given-up one (`manual`), the next retry brought forward for a pending one."""
    with transaction.atomic():
        locked = (
            WebhookDelivery.objects.select_for_update()
            .select_related("endpoint")
            .get(pk=delivery.pk)
        )
        if not locked.endpoint.enabled:
            raise EndpointRefused(
                "The endpoint is disabled; enable it before re-sending.", field="endpoint"
            )
        if locked.status != DeliveryStatus.PENDING:
            locked.status, locked.manual = DeliveryStatus.PENDING, True
        locked.next_attempt_at = timezone.now()
        locked.save(update_fields=["status", "manual", "next_attempt_at"])
        ids = [locked.pk]
        transaction.on_commit(lambda: deliveries_enqueue(ids), robust=True)
    return locked


def events_prune(*, now=None) -> int:
    """Delete events older than `WEBHOOKS_EVENT_RETENTION_DAYS` with their deliveries and
    attempts (the daily `webhooks.events_prune` schedule); how many events."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOKS_EVENT_RETENTION_DAYS)
    deleted = 0
    while True:
        ids = list(
            WebhookEvent.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:5000]
        )
        if not ids:
            return deleted
        WebhookEvent.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
