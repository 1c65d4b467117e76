"""Card payments: the amount, starting a checkout with the gateway, applying its result once, the
gateway's webhook.
"""

from __future__ import annotations

import logging
import re
import uuid
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import money
from accounts.models import (
    Account,
    Debtor,
    Payment,
    PaymentMethod,
)
from accounts.selectors import instalment_next
from accounts.services import (
    PaymentRefused,
    payment_record,
)
from accounts.webhooks.events import payment_attempt_failed
from portal.gateways import CardInput, ChargeResult, ChargeStatus, GatewayError, gateway_get
from portal.gateways.sandbox import SandboxGateway
from portal.models import (
    Checkout,
    CheckoutPurpose,
    CheckoutStatus,
    SettlementOffer,
)
from portal.services.common import (
    ACTOR,
    PortalError,
    _portal_event,
)
from portal.services.conversion import (
    _conversion_after_commit,
)
from portal.services.settlement import (
    _settlement_apply,
    settlement_offer_valid,
)

logger = logging.getLogger(__name__)

# --- Payments ---------------------------------------------------------------------------------


def checkout_amount(
    *,
    account: Account,
    purpose: str,
    amount: str | Decimal | None = None,
    offer: SettlementOffer | None = None,
) -> Decimal:
    """What a payment of `purpose` is for, checked against the account now."""
    if not account.is_open:
        raise PortalError(_("This account does not take payments any more."))
    if purpose == CheckoutPurpose.FULL:
        return account.balance
    if purpose == CheckoutPurpose.PART:
        try:
            value = money.parse_amount(str(amount or "").strip(), account.currency)
        except money.MoneyError as exc:
            raise PortalError(_("Enter an amount such as 25.00.")) from exc
        if value <= 0 or value > account.balance:
            raise PortalError(_("Enter an amount greater than zero and at most the balance."))
        return value
    if purpose == CheckoutPurpose.INSTALMENT:
        instalment = instalment_next(account_id=account.pk)
        if instalment is None:
            raise PortalError(_("There is no instalment to pay."))
        return money.quantize(min(instalment.amount_due, account.balance), account.currency)
    if purpose == CheckoutPurpose.SETTLEMENT:
        if offer is None or not settlement_offer_valid(offer=offer, account=account):
            raise PortalError(_("This settlement offer has expired. Please look at it again."))
        return money.quantize(offer.amount, account.currency)
    raise PortalError(_("Unknown kind of payment."))


def checkout_start(
    *,
    debtor: Debtor,
    account: Account,
    purpose: str,
    nonce: str,
    card: CardInput,
    amount: str | Decimal | None = None,
    offer: SettlementOffer | None = None,
) -> Checkout:
    """Take a payment from the pay form, once per form nonce.

    A second post of the same form (double click, back and resubmit) returns the first
    attempt's checkout without charging again. The provider's idempotency key is the
    checkout id, and the recorded payment's key is the provider's payment id, so retries at
    every layer collapse onto one `accounts.Payment`.
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", nonce or ""):
        raise PortalError(_("This form has expired. Please try again."))
    existing = Checkout.objects.filter(nonce=nonce).first()
    if existing is not None:
        if existing.debtor_id != debtor.pk or existing.account_id != account.pk:
            raise PortalError(_("This form has expired. Please try again."))
        return existing
    value = checkout_amount(account=account, purpose=purpose, amount=amount, offer=offer)
    gateway = gateway_get()
    try:
        with transaction.atomic():
            checkout = Checkout.objects.create(
                debtor=debtor,
                account=account,
                purpose=purpose,
                amount=value,
                currency=account.currency,
                nonce=nonce,
                gateway=gateway.name,
                settlement_offer=offer if purpose == CheckoutPurpose.SETTLEMENT else None,
            )
    except IntegrityError:
        # The same form posted twice at once: the other request owns the charge.
        return Checkout.objects.get(nonce=nonce)
    try:
        result = gateway.charge(
            amount=value,
            currency=account.currency,
            idempotency_key=f"portal-{checkout.pk}",
            card=card,
            description=f"{account.creditor.display_name} {account.external_ref}",
            metadata={"checkout_id": str(checkout.pk), "account_id": str(account.pk)},
            return_url=settings.SITE_URL + reverse("portal:checkout_return", args=[checkout.pk]),
        )
    except GatewayError:
        logger.exception("gateway charge failed for checkout %s", checkout.pk)
        result = ChargeResult(ChargeStatus.FAILED, "", failure_code="provider_unavailable")
    return checkout_apply(checkout=checkout, result=result)


def checkout_apply(*, checkout: Checkout, result: ChargeResult) -> Checkout:
    """Apply what the provider said (charge, return, authentication or webhook); idempotent.

    An attempt that becomes failed sends the creditor `payment.failed` in the same
    transaction, once: the provider's retry of the same failure finds it failed already.
    """
    with transaction.atomic():
        locked = (
            Checkout.objects.select_for_update(of=("self",))
            .select_related("account")
            .get(pk=checkout.pk)
        )
        if locked.status == CheckoutStatus.SUCCEEDED:
            return locked
        before = locked.status
        if result.provider_ref:
            locked.provider_ref = result.provider_ref
        locked.updated_at = timezone.now()
        if result.status is ChargeStatus.SUCCEEDED:
            _checkout_complete(locked)
        elif result.status is ChargeStatus.REQUIRES_ACTION:
            locked.status = CheckoutStatus.REQUIRES_ACTION
            locked.action_url = result.action_url or locked.action_url
        elif locked.status != CheckoutStatus.FAILED:
            locked.status = CheckoutStatus.FAILED
            locked.failure_code = result.failure_code[:60]
            debtor = Debtor.objects.get(pk=locked.debtor_id)
            _portal_event(
                debtor,
                "payment_failed",
                "A card payment in the portal did not go through.",
                account=locked.account,
                checkout_id=str(locked.pk),
                code=locked.failure_code,
            )
        if locked.status == CheckoutStatus.FAILED and before != CheckoutStatus.FAILED:
            payment_attempt_failed(locked)
        locked.save()
    return locked


def _checkout_complete(checkout: Checkout) -> None:
    """Record the payment (once per provider payment id) and, for a settlement, settle."""
    account = checkout.account
    try:
        payment, created = _payment_record_once(checkout)
    except PaymentRefused as exc:
        # Money was taken but the account cannot take it (paid meanwhile by other means):
        # an operator refunds it; the log names ids only.
        logger.error("checkout %s captured but not recorded: %s", checkout.pk, exc)
        checkout.status = CheckoutStatus.FAILED
        checkout.failure_code = "not_recorded_refund_due"
        return
    checkout.payment = payment
    checkout.status = CheckoutStatus.SUCCEEDED
    checkout.failure_code = ""
    if checkout.purpose == CheckoutPurpose.SETTLEMENT and checkout.settlement_offer_id:
        _settlement_apply(checkout, payment)
    if created:
        _conversion_after_commit(account.pk, "payment", f"payment:{payment.pk}")


def _payment_record_once(checkout: Checkout) -> tuple[Payment, bool]:
    return payment_record(
        account=checkout.account,
        amount=money.quantize(checkout.amount, checkout.currency),
        idempotency_key=f"{checkout.gateway}:{checkout.provider_ref}",
        method=PaymentMethod.CARD,
        actor=ACTOR,
        provider=checkout.gateway,
        provider_reference=checkout.provider_ref,
    )


def checkout_authenticate(*, checkout: Checkout, approved: bool) -> Checkout:
    """The sandbox's simulated bank page answered (approve or cancel)."""
    if checkout.gateway != SandboxGateway.name or checkout.status != CheckoutStatus.REQUIRES_ACTION:
        return checkout
    result = SandboxGateway().authenticate(provider_ref=checkout.provider_ref, approved=approved)
    return checkout_apply(checkout=checkout, result=result)


def checkout_refresh(*, checkout: Checkout) -> Checkout:
    """Ask the provider for the outcome (the debtor is back from Stripe's authentication)."""
    if checkout.status != CheckoutStatus.REQUIRES_ACTION or checkout.gateway == "sandbox":
        return checkout
    try:
        result = gateway_get(checkout.gateway).retrieve(provider_ref=checkout.provider_ref)
    except GatewayError:
        logger.exception("gateway retrieve failed for checkout %s", checkout.pk)
        return checkout
    return checkout_apply(checkout=checkout, result=result)


def webhook_handle(*, gateway_name: str, payload: bytes, signature: str) -> str:
    """Verify and apply a provider webhook; returns what was done (for the response body).

    Raises `GatewayError` for a bad signature. Replays and unknown payments are answered
    without error so the provider stops retrying.
    """
    gateway = gateway_get(gateway_name)
    event = gateway.webhook_parse(payload=payload, signature=signature)
    if event.status is None or not event.provider_ref:
        return "ignored"
    checkout = Checkout.objects.filter(
        gateway=gateway.name, provider_ref=event.provider_ref
    ).first()
    if checkout is None:
        try:
            checkout_id = uuid.UUID(event.metadata.get("checkout_id", ""))
        except ValueError:
            checkout_id = None
        checkout = Checkout.objects.filter(pk=checkout_id, gateway=gateway.name).first()
    if checkout is None:
        logger.warning("webhook %s names no known checkout", event.id)
        return "unknown"
    failed = event.failure_code or "provider_failed"
    code = "" if event.status is ChargeStatus.SUCCEEDED else failed
    checkout_apply(
        checkout=checkout,
        result=ChargeResult(event.status, event.provider_ref, failure_code=code),
    )
    return "applied"
