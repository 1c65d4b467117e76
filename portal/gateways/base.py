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
    """A verified provider event, reduced to what the portal needs; `failure_code` is the
    provider's code for a failed payment, when it gives one."""

    id: str
    type: str
    provider_ref: str
    status: ChargeStatus | None
    metadata: dict[str, Any] = field(default_factory=dict)
    failure_code: str = ""


# What creditors are told about a failed payment (the `payment.failed` webhook): a category
# with its reason, never the provider's own code. The issuer's detail (insufficient funds, a
# card reported lost or stolen, suspected fraud) is the debtor's financial data, so every
# decline is `card_declined`. The checkout keeps the provider's code for the debtor's page
# and the operators.
FAILURE_REASONS: dict[str, str] = {
    "card_declined": "The card issuer declined the payment.",
    "card_invalid": "The card details were not valid, or the card has expired.",
    "authentication_failed": "The payment was not confirmed with the card issuer.",
    "abandoned": "The payment page expired or the payment was cancelled before it was made.",
    "provider_error": "The payment provider could not be reached or could not process it.",
    "not_applied": "The money was taken but the account could not take it (it was paid or "
    "closed meanwhile); it is refunded.",
}
_FAILURE_CATEGORIES: dict[str, str] = {
    **dict.fromkeys(
        (
            "invalid_number", "incorrect_number", "invalid_cvc", "incorrect_cvc",
            "invalid_expiry_month", "invalid_expiry_year", "expired_card", "test_card_only",
        ),
        "card_invalid",
    ),
    **dict.fromkeys(
        (
            "authentication_failed", "authentication_required",
            "payment_intent_authentication_failure",
        ),
        "authentication_failed",
    ),
    **dict.fromkeys(("expired", "canceled"), "abandoned"),
    **dict.fromkeys(("provider_unavailable", "processing_error"), "provider_error"),
    "not_recorded_refund_due": "not_applied",
}  # fmt: skip


def failure_category(code: str) -> str:
    """The creditor-facing category of a checkout's failure code (`FAILURE_REASONS`): any
    code not known to mean something else is a decline."""
    return _FAILURE_CATEGORIES.get(code, "card_declined")


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
