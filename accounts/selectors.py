"""Reads of the accounts domain, scoped to one creditor (the tenant) except where a name says
otherwise: the lock the services that write for many accounts at once take on them, which
reads them whole (`accounts_lock`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q, QuerySet

from accounts.models import (
    OPEN_INSTALLMENT_STATUSES,
    Account,
    Activity,
    Creditor,
    Installment,
    Payment,
    PlanStatus,
)


def accounts_list(
    *,
    creditor: Creditor,
    status: str | None = None,
    region: str | None = None,
    updated_since: datetime | None = None,
) -> QuerySet[Account]:
    """A creditor's accounts; `region=US` matches `US` and every `US-...` subdivision."""
    qs = Account.objects.filter(creditor=creditor).select_related("debtor")
    if status:
        qs = qs.filter(status=status)
    if region:
        qs = qs.filter(Q(debtor__region=region) | Q(debtor__region__startswith=f"{region}-"))
    if updated_since:
        qs = qs.filter(updated_at__gte=updated_since)
    return qs


def account_get(*, creditor: Creditor, external_ref: str) -> Account | None:
    """One of the creditor's accounts, or None (another creditor's account is not found)."""
    return (
        Account.objects.filter(creditor=creditor, external_ref=external_ref)
        .select_related("debtor", "creditor")
        .first()
    )


def account_timeline(*, account: Account, limit: int = 50) -> QuerySet[Activity]:
    """The latest timeline entries of an account's debtor that concern this account or none."""
    return Activity.objects.filter(
        Q(account=account) | Q(account__isnull=True), debtor_id=account.debtor_id
    ).order_by("-occurred_at", "-id")[:limit]


def payments_list(
    *,
    creditor: Creditor,
    account_ref: str | None = None,
    received_since: datetime | None = None,
) -> QuerySet[Payment]:
    qs = Payment.objects.filter(creditor=creditor).select_related("account")
    if account_ref:
        qs = qs.filter(account__external_ref=account_ref)
    if received_since:
        qs = qs.filter(received_at__gte=received_since)
    return qs


def creditor_for_user(user) -> Creditor | None:
    """The creditor an API user belongs to, or None for users bound to no creditor."""
    if not getattr(user, "is_authenticated", False):
        return None
    link = getattr(user, "creditor_link", None)
    return link.creditor if link is not None else None


def instalment_next(*, account_id: int) -> Installment | None:
    """The oldest open instalment of the account's active plan (None without one)."""
    return (
        Installment.objects.filter(
            plan__account_id=account_id,
            plan__status=PlanStatus.ACTIVE,
            status__in=OPEN_INSTALLMENT_STATUSES,
        )
        .order_by("sequence")
        .first()
    )


def accounts_lock(accounts: Iterable[Account]) -> dict[int, Account]:
    """Lock the accounts and their debtors (`SELECT ... FOR UPDATE`, in the caller's
    transaction) and return them read again as they are now, every field, with their debtors
    and creditors loaded (one instance per creditor), by id (an account deleted meanwhile is
    missing). Not scoped to a creditor: for the jobs that work across creditors (the
    planner, the send)."""
    locked = (
        Account.objects.select_related("debtor")
        .prefetch_related("creditor")  # one instance per creditor, not one per row
        .filter(pk__any=[a.pk for a in accounts])
        .select_for_update(of=("self", "debtor"))
        .order_by("pk")
    )
    return {a.pk: a for a in locked}
