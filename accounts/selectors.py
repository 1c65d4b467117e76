"""Reads of the accounts domain, always scoped to one creditor (the tenant), and the lock
the services that write for many accounts at once take on them (`accounts_lock`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from accounts.models import (
    OPEN_INSTALLMENT_STATUSES,
    Account,
    Activity,
    Creditor,
    Debtor,
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


# --- reading accounts, then locking them without reading them twice --------------------------

_VERSION = "_row_version"


def with_row_version(qs: QuerySet[Account]) -> QuerySet[Account]:
    """`qs` (which must `select_related("debtor")`) with each row's version on PostgreSQL:
    the transaction ids that wrote the account row and its debtor row as they were read
    (`xmin`). `accounts_lock` uses it to skip re-reading rows that did not change since."""
    if connection.vendor != "postgresql":
        return qs
    qn = connection.ops.quote_name
    account, debtor = qn(Account._meta.db_table), qn(Debtor._meta.db_table)
    # Only quoted table names from the models go into the SQL.
    version = RawSQL(f"{account}.xmin::text || '/' || {debtor}.xmin::text", ())  # noqa: S611
    return qs.annotate(**{_VERSION: version})


def accounts_lock(accounts: Iterable[Account]) -> dict[int, Account]:
    """Lock the accounts and their debtors (`FOR UPDATE`, in the caller's transaction) and
    return them as they are now, by id (an account deleted meanwhile is missing).

    An account read through `with_row_version` whose account and debtor rows are the very
    versions it was read from (PostgreSQL's `xmin`: every UPDATE writes a new row version
    with the writer's transaction id, whatever it changed and however it was issued) is
    returned as it is; any other account is read again under the lock. The planner reads
    1,000 accounts, then sends to them: this saves reading them all twice."""
    given = {a.pk: a for a in accounts}
    fresh: dict[int, Account] = {}
    stale = list(given)
    versions = {pk: getattr(a, _VERSION, None) for pk, a in given.items()}
    if connection.vendor == "postgresql" and given and all(versions.values()):
        qn = connection.ops.quote_name
        account, debtor = qn(Account._meta.db_table), qn(Debtor._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(  # only quoted table names from the models go into the SQL
                f"SELECT a.id, a.xmin::text || '/' || d.xmin::text FROM {account} a "  # noqa: S608
                f"JOIN {debtor} d ON d.id = a.debtor_id WHERE a.id = ANY(%s) "
                "ORDER BY a.id FOR UPDATE OF a, d",
                [list(given)],
            )
            now = dict(cursor.fetchall())
        fresh = {pk: a for pk, a in given.items() if now.get(pk) == versions[pk]}
        stale = [pk for pk in given if pk in now and pk not in fresh]
    if stale:
        fresh.update(
            (a.pk, a)
            for a in Account.objects.select_for_update(of=("self", "debtor"))
            .select_related("debtor")
            .prefetch_related("creditor")  # one instance per creditor, not one per row
            .filter(pk__any=stale)
            .order_by("pk")
        )
    return fresh
