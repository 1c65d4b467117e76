"""A creditor's portfolio figures and monthly statements (the API's `/reports/summary/` and
`/statements/`), as plain values: amounts are `Decimal`s in the currency's minor units,
never added up across currencies.

- `portfolio_summary`: the accounts placed in a period (by UTC day of placement), what was
  collected in it, and the recovery rate of the placed amounts, per currency, and split by
  current status, region and placement month (cohort).
- `statement`: every payment received in a UTC calendar month, with totals per currency:
  the basis of remittance.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth

from accounts import money
from accounts.models import Account, Creditor, Payment, PaymentStatus

ZERO = Decimal("0")


def _start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _rate(collected: Decimal, placed: Decimal) -> float | None:
    return round(float(collected / placed), 6) if placed > 0 else None


@dataclass
class Tally:
    """Accounts placed, their amount and what was collected on them, in one currency."""

    currency: str
    accounts: int = 0
    placed: Decimal = ZERO
    collected: Decimal = ZERO
    balance: Decimal = ZERO

    def as_dict(self) -> dict[str, Any]:
        q = money.quantize
        return {
            "currency": self.currency,
            "accounts": self.accounts,
            "placed": q(self.placed, self.currency),
            "collected_on_placed": q(self.collected, self.currency),
            "balance": q(self.balance, self.currency),
            "recovery_rate": _rate(self.collected, self.placed),
        }


def _tallies(placed, collected, key: str) -> list[dict[str, Any]]:
    """Placed accounts and the payments on them, grouped by `key` (a field of the account,
    or None) and currency."""
    out: dict[tuple, Tally] = {}
    for row in placed:
        k = (row.get(key) if key else None, row["currency"])
        t = out.setdefault(k, Tally(row["currency"]))
        t.accounts += row["n"]
        t.placed += row["placed"] or ZERO
        t.balance += row["balance"] or ZERO
    for row in collected:
        k = (row.get(f"account__{key}") if key else None, row["currency"])
        out.setdefault(k, Tally(row["currency"])).collected += row["amount"] or ZERO
    items = sorted(out.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))
    return [({key: _label(k[0])} if key else {}) | t.as_dict() for k, t in items]


def _label(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m")
    return value if value is not None else ""


def portfolio_summary(*, creditor: Creditor, start: date, end: date) -> dict[str, Any]:
    """The creditor's accounts placed from `start` to `end` (UTC days, inclusive), and:

    - `totals`: per currency, the accounts and amount placed, what has been collected on them
      by the end of `end`, their balance now, and the recovery rate (collected / placed);
    - `collected`: per currency, every succeeded payment received in the period, whichever
      period its account was placed in;
    - `by_status`, `by_region`, `by_cohort` (placement month): the totals split.
    Six aggregate queries."""
    until = _start(end) + timedelta(days=1)
    accounts = Account.objects.filter(
        creditor=creditor, placed_at__gte=_start(start), placed_at__lt=until
    ).order_by()
    paid = Payment.objects.filter(
        creditor=creditor, status=PaymentStatus.SUCCEEDED, received_at__lt=until
    ).order_by()
    on_placed = paid.filter(account__in=accounts.values("pk"))

    def placed_by(*fields):
        return accounts.values(*fields, "currency").annotate(
            n=Count("id"), placed=Sum("original_amount"), balance=Sum("current_balance")
        )

    def collected_by(*fields):
        return on_placed.values(*fields, "currency").annotate(amount=Sum("amount"))

    cohort = {"cohort": TruncMonth("placed_at", tzinfo=UTC)}
    in_period = (
        paid.filter(received_at__gte=_start(start))
        .values("currency")
        .annotate(n=Count("id"), amount=Sum("amount"))
        .order_by("currency")
    )
    return {
        "from": start,
        "to": end,
        "totals": _tallies(placed_by(), collected_by(), ""),
        "collected": [
            {
                "currency": r["currency"],
                "payments": r["n"],
                "amount": money.quantize(r["amount"] or ZERO, r["currency"]),
            }
            for r in in_period
        ],
        "by_status": _tallies(placed_by("status"), collected_by("account__status"), "status"),
        "by_region": _tallies(
            placed_by("debtor__region"), collected_by("account__debtor__region"), "debtor__region"
        ),
        "by_cohort": _tallies(
            accounts.annotate(**cohort)
            .values("cohort", "currency")
            .annotate(n=Count("id"), placed=Sum("original_amount"), balance=Sum("current_balance")),
            on_placed.annotate(account__cohort=TruncMonth("account__placed_at", tzinfo=UTC))
            .values("account__cohort", "currency")
            .annotate(amount=Sum("amount")),
            "cohort",
        ),
    }


@dataclass
class Statement:
    """The payments received in one month and their totals per currency."""

    month: date
    payments: list[Payment]
    totals: list[dict[str, Any]] = field(default_factory=list)


def _month_bounds(month: date) -> tuple[datetime, datetime]:
    start = _start(month.replace(day=1))
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start, _start(following)


def statement(*, creditor: Creditor, month: date) -> Statement:
    """Every payment received on the creditor's accounts in UTC month `month` (any status:
    a payment refunded since still shows, marked), oldest first; and per currency the
    amount received, refunded since and net. Two queries."""
    start, end = _month_bounds(month)
    payments = (
        Payment.objects.filter(creditor=creditor, received_at__gte=start, received_at__lt=end)
        .select_related("account")
        .order_by("received_at", "id")
    )
    totals = (
        payments.order_by()
        .values("currency")
        .annotate(
            n=Count("id"),
            received=Sum("amount"),
            refunded=Sum("amount", filter=Q(status=PaymentStatus.REFUNDED)),
        )
        .order_by("currency")
    )
    return Statement(
        month=month,
        payments=list(payments),
        totals=[
            {
                "currency": t["currency"],
                "payments": t["n"],
                "received": money.quantize(t["received"] or ZERO, t["currency"]),
                "refunded": money.quantize(t["refunded"] or ZERO, t["currency"]),
                "net": money.quantize((t["received"] or ZERO) - (t["refunded"] or ZERO),
                                      t["currency"]),
            }
            for t in totals
        ],
    )  # fmt: skip


STATEMENT_COLUMNS = (
    "row", "payment", "account", "received_at", "currency", "amount", "status", "method",
    "provider_reference", "payments", "received", "refunded", "net",
)  # fmt: skip


def statement_rows(s: Statement) -> Iterator[dict[str, Any]]:
    """The statement as CSV rows: one `payment` row per payment, then one `total` row per
    currency (columns that do not apply to a row are blank)."""
    for p in s.payments:
        yield {
            "row": "payment",
            "payment": p.pk,
            "account": p.account.external_ref,
            "received_at": p.received_at.astimezone(UTC).isoformat(),
            "currency": p.currency,
            "amount": money.quantize(p.amount, p.currency),
            "status": p.status,
            "method": p.method,
            "provider_reference": p.provider_reference,
        }
    for t in s.totals:
        yield {"row": "total", **t}
