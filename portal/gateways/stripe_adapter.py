"""The Stripe adapter: Checkout Sessions and PaymentIntents through the `stripe` library,
signed webhooks.

Settings: `STRIPE_SECRET_KEY`, `STRIPE_WEBHOOK_SECRET` (and `PORTAL_GATEWAY=stripe`).

- Card entry is Stripe Checkout's hosted page: `charge` without a payment method creates a
  Checkout Session (amount in minor units, our idempotency key, the checkout id in the
  session's and its PaymentIntent's metadata) and answers `requires_action` with the page's
  URL. Card numbers never reach this server, and no script from Stripe's CDN is loaded (the
  portal's CSP allows scripts from itself only). The debtor comes back to `return_url`
  (paid or not), where `retrieve` reads the session: paid means its PaymentIntent's
  outcome, under the PaymentIntent's id; still open means the page is offered again;
  expired means failed.
- `charge` with a payment method id (`CardInput.payment_method`, e.g. Stripe's test id
  `pm_card_visa`; for scripts, not offered by the pay form) creates and confirms a
  PaymentIntent directly. One that needs 3-D Secure answers `requires_action` with Stripe's
  redirect URL and `retrieve` reads the outcome on return.
- Either way the payment is recorded under the PaymentIntent's id, whichever comes first of
  the debtor's return and the `payment_intent.succeeded` webhook (the other finds it
  recorded).
- `webhook_parse` verifies the `Stripe-Signature` header with `stripe.Webhook.construct_event`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def _provider_errors() -> Iterator[None]:
    """Stripe's errors as the gateway interface's `GatewayError` (the type name only: its
    message may quote what was sent)."""
    try:
        yield
    except stripe.StripeError as exc:
        raise GatewayError(f"Stripe error {type(exc).__name__}") from exc


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
            return self._checkout_session(
                amount=amount,
                currency=currency,
                idempotency_key=idempotency_key,
                description=description,
                metadata=metadata,
                return_url=return_url,
            )
        with _provider_errors():
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
            except stripe.CardError as exc:  # a decline is an answer, not an error
                error = exc.error
                intent = _plain(getattr(error, "payment_intent", None)) if error else {}
                ref = (intent or {}).get("id", "")
                code = (getattr(error, "decline_code", None) or exc.code or "card_declined") \
                    if error else "card_declined"  # fmt: skip
                return ChargeResult(ChargeStatus.FAILED, ref, failure_code=str(code))
        return self._result(intent)

    def _checkout_session(
        self,
        *,
        amount: Decimal,
        currency: str,
        idempotency_key: str,
        description: str,
        metadata: dict[str, str],
        return_url: str,
    ) -> ChargeResult:
        price = {
            "currency": currency.lower(),
            "unit_amount": to_minor_units(amount, currency),
            "product_data": {"name": description},
        }
        with _provider_errors():
            session = self._client.v1.checkout.sessions.create(
                params={
                    "mode": "payment",
                    "line_items": [{"price_data": price, "quantity": 1}],
                    "payment_method_types": ["card"],
                    "payment_intent_data": {"description": description, "metadata": metadata},
                    "metadata": metadata,
                    "client_reference_id": metadata.get("checkout_id", ""),
                    "success_url": return_url,
                    "cancel_url": return_url,
                },
                options={"idempotency_key": idempotency_key},
            )
        session = _plain(session)
        return ChargeResult(ChargeStatus.REQUIRES_ACTION, session["id"], action_url=session["url"])

    def retrieve(self, *, provider_ref: str) -> ChargeResult:
        with _provider_errors():
            if not provider_ref.startswith("cs_"):  # a PaymentIntent confirmed directly
                return self._result(self._client.v1.payment_intents.retrieve(provider_ref))
            session = _plain(
                self._client.v1.checkout.sessions.retrieve(
                    provider_ref, params={"expand": ["payment_intent"]}
                )
            )
        intent = session.get("payment_intent")
        if session["status"] == "complete" and isinstance(intent, dict):
            return self._result(intent)  # under the PaymentIntent's id, as its webhook
        if session["status"] == "expired":
            return ChargeResult(ChargeStatus.FAILED, provider_ref, failure_code="expired")
        # Still open (the debtor came back without paying): the page can be used again.
        return ChargeResult(
            ChargeStatus.REQUIRES_ACTION, provider_ref, action_url=session.get("url") or ""
        )

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
        status = _EVENT_STATUS.get(event["type"]) if is_intent else None
        failure = ""
        if status is ChargeStatus.FAILED:
            error = obj.get("last_payment_error") or {}
            failure = error.get("decline_code") or error.get("code") or obj.get("status") or ""
        return WebhookEvent(
            id=event["id"],
            type=event["type"],
            provider_ref=obj.get("id", "") if is_intent else "",
            status=status,
            metadata=dict(obj.get("metadata") or {}) if is_intent else {},
            failure_code=str(failure)[:60],
        )
