"""The Stripe adapter: PaymentIntents through the `stripe` library, signed webhooks.

Settings: `STRIPE_SECRET_KEY`, `STRIPE_WEBHOOK_SECRET` (and `PORTAL_GATEWAY=stripe`).

- `charge` creates and confirms a PaymentIntent with the payment method id the pay form
  received, with our idempotency key (a retried or double-posted form returns the same
  PaymentIntent). A PaymentIntent that needs 3-D Secure answers `requires_action` with
  Stripe's redirect URL; the debtor comes back to `return_url` and `retrieve` reads the
  outcome. Stripe also sends `payment_intent.succeeded` to the webhook, whichever comes first
  records the payment (the other finds it recorded).
- `webhook_parse` verifies the `Stripe-Signature` header with `stripe.Webhook.construct_event`.

Card numbers never reach this server with Stripe: the pay form takes a payment method id,
in test mode one of Stripe's test ids such as `pm_card_visa`. Real card entry is meant to go
through Stripe Checkout's hosted page (a redirect), never Stripe.js from a CDN (docs/portal.md);
that flow is not implemented yet.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import stripe
from django.conf import settings

from accounts import money
from portal.gateways.base import CardInput, ChargeResult, ChargeStatus, GatewayError, WebhookEvent

_STATUS = {
    "succeeded": ChargeStatus.SUCCEEDED,
    "processing": ChargeStatus.REQUIRES_ACTION,
    "requires_action": ChargeStatus.REQUIRES_ACTION,
    "requires_confirmation": ChargeStatus.REQUIRES_ACTION,
    "requires_payment_method": ChargeStatus.FAILED,
    "canceled": ChargeStatus.FAILED,
}
_EVENT_STATUS = {
    "payment_intent.succeeded": ChargeStatus.SUCCEEDED,
    "payment_intent.payment_failed": ChargeStatus.FAILED,
    "payment_intent.canceled": ChargeStatus.FAILED,
}


def _plain(obj: Any) -> dict[str, Any]:
    """A Stripe object as plain dicts (the library's objects are not dicts)."""
    if obj is None:
        return {}
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Stripe's integer amount: 12.34 EUR -> 1234, 500 JPY -> 500."""
    return int(money.quantize(amount, currency).scaleb(money.minor_units(currency)))


class StripeGateway:
    """PaymentIntents and webhooks. `http_client` lets tests replay recorded answers."""

    name = "stripe"
    collects_card = False

    def __init__(self, *, http_client: Any = None) -> None:
        self._client = stripe.StripeClient(
            settings.STRIPE_SECRET_KEY or "sk_test_unset",
            http_client=http_client,
            max_network_retries=2,
        )

    def _result(self, obj: Any) -> ChargeResult:
        intent = _plain(obj)
        status = _STATUS.get(intent["status"], ChargeStatus.FAILED)
        action_url = ""
        if status is ChargeStatus.REQUIRES_ACTION:
            next_action = intent.get("next_action") or {}
            action_url = (next_action.get("redirect_to_url") or {}).get("url", "")
        failure = ""
        if status is ChargeStatus.FAILED:
            error = intent.get("last_payment_error") or {}
            failure = error.get("decline_code") or error.get("code") or intent["status"]
        return ChargeResult(status, intent["id"], action_url=action_url, failure_code=failure)

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
        if not card.payment_method:
            return ChargeResult(ChargeStatus.FAILED, "", failure_code="no_payment_method")
        try:
            intent = self._client.v1.payment_intents.create(
                params={
                    "amount": to_minor_units(amount, currency),
                    "currency": currency.lower(),
                    "payment_method": card.payment_method,
                    "confirm": True,
                    "description": description,
                    "metadata": metadata,
                    "return_url": return_url,
                    "payment_method_types": ["card"],
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.CardError as exc:
            error = exc.error
            intent = _plain(getattr(error, "payment_intent", None)) if error else {}
            ref = (intent or {}).get("id", "")
            code = (getattr(error, "decline_code", None) or exc.code or "card_declined") if error \
                else "card_declined"  # fmt: skip
            return ChargeResult(ChargeStatus.FAILED, ref, failure_code=str(code))
        except stripe.StripeError as exc:
            raise GatewayError(f"Stripe error {type(exc).__name__}") from exc
        return self._result(intent)

    def retrieve(self, *, provider_ref: str) -> ChargeResult:
        try:
            intent = self._client.v1.payment_intents.retrieve(provider_ref)
        except stripe.StripeError as exc:
            raise GatewayError(f"Stripe error {type(exc).__name__}") from exc
        return self._result(intent)

    def webhook_parse(self, *, payload: bytes, signature: str) -> WebhookEvent:
        secret = settings.STRIPE_WEBHOOK_SECRET
        if not secret:
            raise GatewayError("STRIPE_WEBHOOK_SECRET is not set.")
        try:
            event = stripe.Webhook.construct_event(payload, signature, secret)
        except (ValueError, stripe.SignatureVerificationError) as exc:
            raise GatewayError("Invalid Stripe webhook.") from exc
        obj = _plain(event)["data"]["object"]
        is_intent = obj.get("object") == "payment_intent"
        return WebhookEvent(
            id=event["id"],
            type=event["type"],
            provider_ref=obj.get("id", "") if is_intent else "",
            status=_EVENT_STATUS.get(event["type"]) if is_intent else None,
            metadata=dict(obj.get("metadata") or {}) if is_intent else {},
        )
