"""Reads of the portal, always scoped to the debtor of the session.

Every lookup by id also filters by the session's debtor, so changing an id in the address
finds nothing (404), exactly like an id that does not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import (
    Account,
    Debtor,
    Installment,
    Payment,
    PaymentPlan,
    PlanFrequency,
    PlanStatus,
)
from accounts.services import plan_counts
from compliance.services import debtor_zone as compliance_debtor_zone
from messaging.models import Message
from portal.accounts_read import accounts_of
from portal.models import Checkout, SettlementOffer


def debtor_zone(debtor: Debtor) -> ZoneInfo:
    """The zone of the debtor's wall clock: the one compliance reads their local time in (their
    own IANA zone, else their region's, else UTC), so the portal's days are the rules' days."""
    return compliance_debtor_zone(debtor)[1]


def debtor_today(debtor: Debtor) -> date:
    """Today's date on the debtor's wall clock."""
    return timezone.localtime(timezone=debtor_zone(debtor)).date()


__all__ = ["accounts_of"]  # the overview's read, prepared (portal/accounts_read.py)

# Statuses in which an account can have an active plan (a paused plan keeps its schedule).
PLAN_STATUSES = frozenset({"in_plan", "paused"})


def account_of(*, debtor_id: int, account_id: int) -> Account:
    """One of the debtor's accounts, or 404."""
    accounts = Account.objects.select_related("creditor", "debtor")
    return get_object_or_404(accounts, pk=account_id, debtor_id=debtor_id)


def checkout_of(*, debtor_id: int, checkout_id: uuid.UUID) -> Checkout:
    checkouts = Checkout.objects.select_related("account", "account__creditor", "payment")
    return get_object_or_404(checkouts, pk=checkout_id, debtor_id=debtor_id)


def offer_of(*, account: Account, offer_id: int) -> SettlementOffer | None:
    return SettlementOffer.objects.filter(pk=offer_id, account=account).first()


def payment_of(*, debtor_id: int, payment_id: int) -> Payment:
    payments = Payment.objects.select_related("account", "account__creditor", "account__debtor")
    return get_object_or_404(payments, pk=payment_id, account__debtor_id=debtor_id)


def payments_of(*, debtor_id: int) -> QuerySet[Payment]:
    return Payment.objects.filter(account__debtor_id=debtor_id).select_related("account")


def plans_of(*, debtor_id: int) -> list[PaymentPlan]:
    return list(
        PaymentPlan.objects.filter(account__debtor_id=debtor_id)
        .select_related("account")
        .prefetch_related("installments")
        .order_by("-created_at")
    )


def next_instalments(*, account_ids: list[int]) -> dict[int, Installment]:
    """The oldest open instalment of each account's active plan (one query)."""
    result: dict[int, Installment] = {}
    rows = (
        Installment.objects.filter(
            plan__account_id__in=account_ids,
            plan__status=PlanStatus.ACTIVE,
            status__in=["pending", "partial", "missed"],
        )
        .select_related("plan")
        .order_by("plan__account_id", "sequence")
    )
    for inst in rows:
        result.setdefault(inst.plan.account_id, inst)
    return result


@dataclass(frozen=True, slots=True)
class PlanRange:
    frequency: str
    label: str
    minimum: int
    maximum: int


def plan_ranges(*, account: Account) -> list[PlanRange]:
    """For each frequency, the range of instalment counts a debtor may choose for a plan
    starting today (`accounts.services.plan_counts`, by the rules of `plan_check`)."""
    ranges = []
    for frequency in PlanFrequency:
        allowed = plan_counts(account=account, frequency=frequency, self_service=True)
        if allowed:
            ranges.append(PlanRange(frequency.value, frequency.label, allowed[0], allowed[-1]))
    return ranges


def messages_of(*, debtor_id: int, limit: int = 50) -> QuerySet[Message]:
    """Messages that went out to the debtor, newest first (the history page)."""
    return (
        Message.objects.filter(debtor_id=debtor_id, sent_at__isnull=False)
        .only("sent_at", "channel", "subject")
        .order_by("-sent_at")[:limit]
    )
