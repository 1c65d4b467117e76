"""Reads of the portal, always scoped to the debtor of the session.

Every lookup by id also filters by the session's debtor, so changing an id in the address
finds nothing (404), exactly like an id that does not exist.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from django.db import DEFAULT_DB_ALIAS, connection, models
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import (
    Account,
    Creditor,
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
from portal.models import Checkout, SettlementOffer


def debtor_zone(debtor: Debtor) -> ZoneInfo:
    """The zone of the debtor's wall clock: the one compliance reads their local time in (their
    own IANA zone, else their region's, else UTC), so the portal's days are the rules' days."""
    return compliance_debtor_zone(debtor)[1]


def debtor_today(debtor: Debtor) -> date:
    """Today's date on the debtor's wall clock."""
    return timezone.localtime(timezone=debtor_zone(debtor)).date()


# Statuses in which an account can have an active plan (a paused plan keeps its schedule).
PLAN_STATUSES = frozenset({"in_plan", "paused"})


@functools.cache
def _accounts_query() -> tuple[str, list[tuple[type[models.Model], list[str], list, int]]]:
    """The SQL of `accounts_of` and, per model, its attnames, converters and column count.

    Built once per process from the models' metadata: compiling the equivalent ORM query
    (three models, ~50 columns) cost more CPU than everything else on the overview page.
    """
    qn = connection.ops.quote_name
    debtor_fk = qn(Account._meta.get_field("debtor").column)
    columns: list[str] = []
    shape = []
    for alias, model in (("a", Account), ("d", Debtor), ("c", Creditor)):
        fields = model._meta.concrete_fields
        converters = []
        for field in fields:
            col = field.get_col(alias)
            convs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            converters.append((col, convs))
            columns.append(f"{alias}.{qn(field.column)}")
        shape.append((model, [f.attname for f in fields], converters, len(fields)))
    placed_at = qn(Account._meta.get_field("placed_at").column)
    # Only quoted identifiers from model metadata are formatted in; the debtor id is a parameter.
    sql = (
        f"SELECT {', '.join(columns)} FROM {qn(Account._meta.db_table)} a"  # noqa: S608
        f" JOIN {qn(Debtor._meta.db_table)} d ON d.{qn(Debtor._meta.pk.column)} = a.{debtor_fk}"
        f" JOIN {qn(Creditor._meta.db_table)} c ON c.{qn(Creditor._meta.pk.column)}"
        f" = a.{qn(Account._meta.get_field('creditor').column)}"
        f" WHERE a.{debtor_fk} = %s ORDER BY a.{placed_at} DESC"
    )
    return sql, shape


def accounts_of(*, debtor_id: int) -> list[Account]:
    """The debtor's accounts (with debtor and creditor), open ones first, newest first.

    Same rows and objects as `Account.objects.filter(debtor_id=...).select_related("creditor",
    "debtor")`, read with SQL prepared once per process (the overview page's hot path; a test
    compares it with the ORM query).
    """
    sql, shape = _accounts_query()
    with connection.cursor() as cursor:
        cursor.execute(sql, [debtor_id])
        rows = cursor.fetchall()
    accounts: list[Account] = []
    debtor: Debtor | None = None
    creditors: dict[int, Creditor] = {}
    for row in rows:
        objects = []
        start = 0
        for model, attnames, converters, count in shape:
            values = list(row[start : start + count])
            for i, (col, convs) in enumerate(converters):
                for conv in convs:
                    values[i] = conv(values[i], col, connection)
            objects.append(model.from_db(DEFAULT_DB_ALIAS, attnames, values))
            start += count
        account, row_debtor, creditor = objects
        creditor = creditors.setdefault(creditor.pk, creditor)
        debtor = debtor or row_debtor  # one debtor: every row shares the same instance
        account._state.fields_cache["debtor"] = debtor
        account._state.fields_cache["creditor"] = creditor
        if debtor.creditor_id in creditors:
            debtor._state.fields_cache["creditor"] = creditors[debtor.creditor_id]
        accounts.append(account)
    accounts.sort(key=lambda a: not a.is_open)
    return accounts


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
