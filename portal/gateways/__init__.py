"""Payment gateways: one interface, a sandbox (default, offline) and a Stripe adapter.

`gateway_get()` returns the gateway named by `settings.PORTAL_GATEWAY`. Services in
`portal.services` are the only callers; views never talk to a gateway directly.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from portal.gateways.base import (
    FAILURE_REASONS,
    CardInput,
    ChargeResult,
    ChargeStatus,
    Gateway,
    GatewayError,
    WebhookEvent,
    failure_category,
)

GATEWAYS = {
    "sandbox": "portal.gateways.sandbox.SandboxGateway",
    "stripe": "portal.gateways.stripe_adapter.StripeGateway",
}

__all__ = [
    "FAILURE_REASONS",
    "GATEWAYS",
    "CardInput",
    "ChargeResult",
    "ChargeStatus",
    "Gateway",
    "GatewayError",
    "WebhookEvent",
    "failure_category",
    "gateway_get",
]


def gateway_get(name: str | None = None) -> Gateway:
    """The configured gateway (or the one named), freshly built from settings."""
    key = name or settings.PORTAL_GATEWAY
    if key not in GATEWAYS:
        raise GatewayError(f"Unknown payment gateway {key!r}.")
    return import_string(GATEWAYS[key])()
