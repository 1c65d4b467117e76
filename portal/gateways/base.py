"""The gateway interface the portal's payment services program against."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol


class GatewayError(Exception):
    """The provider could not be reached or answered something we cannot use."""


class ChargeStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    REQUIRES_ACTION = "requires_action"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CardInput:
    """What the debtor typed (sandbox) or a provider's payment-method id (Stripe).

    Never stored and never logged.
    """

    number: str = ""
    exp_month: int = 0
    exp_year: int = 0
    cvc: str = ""
    payment_method: str = ""

    def __repr__(self) -> str:  # keep card data out of tracebacks and logs
        return "CardInput(<redacted>)"


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """What the provider said about one charge.

    `action_url` is where the debtor goes to authenticate when `status` is
    `requires_action`; `failure_code` is a short provider-neutral code for a decline.
    """

    status: ChargeStatus
    provider_ref: str
    action_url: str = ""
    failure_code: str = ""


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified provider event, reduced to what the portal needs."""

    id: str
    type: str
    provider_ref: str
    status: ChargeStatus | None
    metadata: dict[str, Any] = field(default_factory=dict)


class Gateway(Protocol):
    """A payment provider. Amounts are `Decimal` in the currency's major unit."""

    name: str
    #: Whether the pay form collects a card number on our own page (the sandbox only).
    collects_card: bool

    def charge(
        self,
        *,
        amount: Decimal,
        currency: str,
        idempotency_key: str,
        card: CardInput,
        description: str,
        metadata: dict[str, str],
        return_url: str,
    ) -> ChargeResult:
        """Create and confirm a payment; the same key returns the same payment."""
        ...

    def retrieve(self, *, provider_ref: str) -> ChargeResult:
        """The payment's current state (after the debtor comes back from authentication)."""
        ...

    def webhook_parse(self, *, payload: bytes, signature: str) -> WebhookEvent:
        """Verify a webhook's signature and parse it, or raise `GatewayError`."""
        ...
