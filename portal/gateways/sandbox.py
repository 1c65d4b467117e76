"""The sandbox gateway: the default, works offline, never moves money.

Test cards (any future expiry, any 3-digit CVC):

| number              | outcome                                                     |
|---------------------|-------------------------------------------------------------|
| 4242 4242 4242 4242 | succeeds                                                    |
| 4000 0000 0000 0002 | declined (`card_declined`)                                  |
| 4000 0025 0000 3155 | requires authentication: the debtor approves or cancels on  |
|                     | a simulated bank page (`/p/pay/<checkout>/authenticate/`)   |

Any other number is declined as `test_card_only`. Stateless: the payment id is derived from
the idempotency key, so repeating a charge returns the same payment, like a real provider.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from portal.gateways.base import CardInput, ChargeResult, ChargeStatus, GatewayError, WebhookEvent

CARD_SUCCESS = "4242424242424242"
CARD_DECLINE = "4000000000000002"
CARD_AUTHENTICATE = "4000002500003155"


def luhn_ok(number: str) -> bool:
    """Whether `number` passes the Luhn checksum every card number carries."""
    if not re.fullmatch(r"[0-9]{12,19}", number):
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class SandboxGateway:
    """Outcomes chosen by the test card number; see the module docstring."""

    name = "sandbox"
    collects_card = True

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
        ref = "sbx_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        number = re.sub(r"[^0-9]", "", card.number)  # spaces and dashes as typed
        today = timezone.localdate()
        if not luhn_ok(number):
            return ChargeResult(ChargeStatus.FAILED, ref, failure_code="invalid_number")
        if (card.exp_year, card.exp_month) < (today.year, today.month):
            return ChargeResult(ChargeStatus.FAILED, ref, failure_code="expired_card")
        if number == CARD_SUCCESS:
            return ChargeResult(ChargeStatus.SUCCEEDED, ref)
        if number == CARD_AUTHENTICATE:
            checkout_id = metadata.get("checkout_id", "")
            url = reverse("portal:authenticate", args=[checkout_id])
            return ChargeResult(ChargeStatus.REQUIRES_ACTION, ref, action_url=url)
        if number == CARD_DECLINE:
            return ChargeResult(ChargeStatus.FAILED, ref, failure_code="card_declined")
        return ChargeResult(ChargeStatus.FAILED, ref, failure_code="test_card_only")

    def authenticate(self, *, provider_ref: str, approved: bool) -> ChargeResult:
        """The simulated bank page's answer: approving succeeds, cancelling fails."""
        if approved:
            return ChargeResult(ChargeStatus.SUCCEEDED, provider_ref)
        return ChargeResult(ChargeStatus.FAILED, provider_ref, failure_code="authentication_failed")

    def retrieve(self, *, provider_ref: str) -> ChargeResult:
        # Stateless: the portal's Checkout row is the record of a sandbox payment.
        return ChargeResult(ChargeStatus.REQUIRES_ACTION, provider_ref)

    def webhook_parse(self, *, payload: bytes, signature: str) -> WebhookEvent:
        raise GatewayError("The sandbox gateway sends no webhooks.")
