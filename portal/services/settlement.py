"""Settlement offers: a discount for a lump sum, within the creditor's limits, and settling when it
is paid.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import money
from accounts.models import (
    Account,
    AccountStatus,
    Payment,
)
from accounts.services import (
    account_settle,
)
from portal.models import (
    Checkout,
    SettlementOffer,
    SettlementStatus,
)
from portal.services.common import (
    ACTOR,
    _portal_event,
)

logger = logging.getLogger(__name__)

# --- Settlement -------------------------------------------------------------------------------

SETTLEABLE = (AccountStatus.ACTIVE, AccountStatus.IN_PLAN, AccountStatus.PAUSED)


def settlement_offer_valid(*, offer: SettlementOffer, account: Account) -> bool:
    """Offered, unexpired, and made on the balance the account still has."""
    return (
        offer.account_id == account.pk
        and offer.status == SettlementStatus.OFFERED
        and offer.expires_at > timezone.now()
        and offer.balance == account.balance
        and account.status in SETTLEABLE
    )


def settlement_offer_make(*, account: Account) -> SettlementOffer | None:
    """The current settlement offer for an account, made now if the policy allows one.

    The discount is the creditor's `max_settlement_discount_pct`; the offer lasts
    `PORTAL_SETTLEMENT_OFFER_DAYS` and holds only while the balance is unchanged.
    """
    creditor = account.creditor
    pct = min(Decimal(creditor.max_settlement_discount_pct or 0), Decimal(100))
    if not creditor.settlement_allowed or pct <= 0 or account.status not in SETTLEABLE:
        return None
    now = timezone.now()
    offer = (
        SettlementOffer.objects.filter(
            account=account,
            status=SettlementStatus.OFFERED,
            expires_at__gt=now,
            balance=account.balance,
        )
        .order_by("-created_at")
        .first()
    )
    if offer is not None:
        return offer
    amount = money.quantize(account.balance * (100 - pct) / 100, account.currency)
    if amount <= 0 or amount >= account.balance:
        return None
    with transaction.atomic():
        offer = SettlementOffer.objects.create(
            account=account,
            balance=account.balance,
            discount_pct=pct,
            amount=amount,
            expires_at=now + timedelta(days=settings.PORTAL_SETTLEMENT_OFFER_DAYS),
        )
        _portal_event(
            account.debtor,
            "settlement_offered",
            f"Settlement offered: {amount} {account.currency} "
            f"({pct}% off), valid until {offer.expires_at:%Y-%m-%d}.",
            account=account,
            offer_id=offer.pk,
            discount_pct=str(pct),
        )
    return offer


def _settlement_apply(checkout: Checkout, payment: Payment) -> None:
    """Settle the account after its settlement amount was recorded (same transaction).

    The remainder stays as `current_balance` and is recorded as `written_off`; `settled` is
    final, so it is never collected (`accounts.services.account_settle`). If the balance
    moved since the offer (another payment came in), the payment stands as a part payment
    and the offer is void.
    """
    offer = SettlementOffer.objects.select_for_update().get(pk=checkout.settlement_offer_id)
    if offer.status != SettlementStatus.OFFERED:
        return
    account = (
        Account.objects.select_for_update().select_related("debtor").get(pk=checkout.account_id)
    )
    moved = account.current_balance + payment.amount != offer.balance
    if moved or account.status not in SETTLEABLE:
        offer.status = SettlementStatus.VOID
        offer.save(update_fields=["status"])
        _portal_event(
            account.debtor,
            "settlement_void",
            "Settlement offer void: the balance changed; the payment counts as a part payment.",
            account=account,
            offer_id=offer.pk,
            payment_id=payment.pk,
        )
        return
    account = account_settle(
        account=account, payment=payment, actor=ACTOR, data={"offer_id": offer.pk}
    )
    offer.status = SettlementStatus.ACCEPTED
    offer.payment = payment
    offer.written_off = account.current_balance
    offer.save(update_fields=["status", "payment", "written_off"])
