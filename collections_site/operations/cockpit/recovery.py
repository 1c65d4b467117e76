"""The Recovery page (`/admin/operations/recovery/`): money collected per week and currency,
the liquidation curves of each placement cohort, the accounts by status over time and how
plans' instalments fared.

Read from `CollectedDay`, `PlacementDay`, `AccountStatusDay` and `InstalmentDay`: a handful
of GROUP BY queries over the rollups. Money is per currency throughout: each currency has its
own chart and its own figures, never a total across currencies. The channel filter does not
apply here (a payment has no channel).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import AccountStatus, PaymentStatus
from accounts.money import quantize
from collections_site.operations.cockpit import charts
from collections_site.operations.cockpit.charts import Cell, ChartTable, Series
from collections_site.operations.cockpit.filters import CockpitFilters
from collections_site.operations.cockpit.pages import cockpit_render, filters_for
from collections_site.operations.cockpit.rates import headline, rate_text
from collections_site.operations.models import (
    AccountStatusDay,
    CollectedDay,
    InstalmentDay,
    InstalmentOutcome,
    PlacementDay,
)

MAX_COHORTS = 6
"""The liquidation chart draws the latest six placement months in the filters (a colour
each); the table lists them all."""

# Accounts by status: eight statuses drawn as six bands (final states grouped).
STATUS_BANDS: list[tuple[str, list[str]]] = [
    (str(AccountStatus.ACTIVE.label), [AccountStatus.ACTIVE]),
    (str(AccountStatus.IN_PLAN.label), [AccountStatus.IN_PLAN]),
    (str(AccountStatus.PAUSED.label), [AccountStatus.PAUSED]),
    (str(AccountStatus.DISPUTED.label), [AccountStatus.DISPUTED]),
    ("Paid or settled", [AccountStatus.PAID, AccountStatus.SETTLED]),
    ("Recalled or closed", [AccountStatus.RECALLED, AccountStatus.CLOSED]),
]
OUTCOMES = [
    (InstalmentOutcome.ON_TIME, "Paid on time"),
    (InstalmentOutcome.LATE, "Paid late"),
    (InstalmentOutcome.MISSED, "Missed"),
    (InstalmentOutcome.OPEN, "Still open"),
]


def money_text(amount: Decimal | None, currency: str) -> str:
    value = quantize(amount or Decimal("0"), currency)
    return f"{value:,} {currency}"


def _utc(day: date) -> str:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat()


def _admin_link(name: str, filters: CockpitFilters, creditor_key: str, **params: Any) -> str:
    if filters.creditor:
        params[creditor_key] = filters.creditor.pk
    if filters.region:
        params["region"] = filters.region
    query = urlencode({k: v for k, v in params.items() if v not in ("", None)})
    return f"{reverse(name)}?{query}"


def payments_link(filters: CockpitFilters, start: date, end: date, **params: Any) -> str:
    """The payments received in the UTC days [start, end] (the Django admin's list)."""
    return _admin_link(
        "admin:accounts_payment_changelist",
        filters,
        "creditor__id__exact",
        received_at__gte=_utc(start),
        received_at__lt=_utc(end + timedelta(days=1)),
        status__exact=PaymentStatus.SUCCEEDED,
        **params,
    )


def weeks(filters: CockpitFilters) -> list[date]:
    """The Mondays of the weeks the filters' days touch."""
    first = filters.start - timedelta(days=filters.start.weekday())
    return [first + timedelta(days=7 * i) for i in range((filters.end - first).days // 7 + 1)]


def _week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def collected_charts(filters: CockpitFilters) -> tuple[list[charts.BarChart], dict[str, Any]]:
    """One bar chart per currency: the amount received each week, each bar linked to the
    payments it adds up; and the period's totals per currency."""
    per_week: dict[str, dict[date, list]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in (
        filters.rollup(CollectedDay.objects.all(), channel=False)
        .values("currency", "day")
        .annotate(amount=Sum("amount"), payments=Sum("payments"))
    ):
        cell = per_week[row["currency"]][_week_of(row["day"])]
        cell[0] += row["amount"]
        cell[1] += row["payments"]
    mondays = weeks(filters)
    out, totals = [], {}
    for currency in sorted(per_week):
        cells = per_week[currency]
        links = [
            payments_link(filters, max(m, filters.start), min(m + timedelta(6), filters.end),
                          currency=currency)
            for m in mondays
        ]  # fmt: skip
        amounts = [cells[m][0] if m in cells else Decimal(0) for m in mondays]
        totals[currency] = (sum(amounts, Decimal(0)), sum(c[1] for c in cells.values()))
        out.append(
            charts.BarChart(
                title=_("Collected per week, %(currency)s") % {"currency": currency},
                labels=[m.strftime("%m-%d") for m in mondays],
                series=[Series(currency, [float(a) for a in amounts], urls=links)],
                table=ChartTable(
                    _("Collected per week (weeks from Monday, UTC), %(currency)s")
                    % {"currency": currency},
                    [_("Week of"), _("Payments"), _("Amount")],
                    [
                        [Cell(m.isoformat(), link), f"{cells[m][1]:,}", money_text(a, currency)]
                        for m, a, link in zip(mondays, amounts, links, strict=True)
                        if m in cells
                    ],
                ),
            )
        )
    return out, totals


def _months_between(first: date, later: date) -> int:
    return (later.year - first.year) * 12 + later.month - first.month


def _month_end(month: date, k: int) -> date:
    """The last day of the `k`-th month after `month`."""
    y, m = divmod(month.month - 1 + k + 1, 12)
    return date(month.year + y, m + 1, 1) - timedelta(days=1)


def _cohorts(filters: CockpitFilters) -> tuple[dict, dict]:
    """Placed (accounts, amount) per (currency, month) in the filters, and collected per
    (currency, placement month, months since placement) on any day."""
    placed: dict[tuple[str, date], tuple[int, Decimal]] = {}
    for row in (
        filters.rollup(PlacementDay.objects.all(), channel=False)
        .values("currency", month=TruncMonth("day"))
        .annotate(accounts=Sum("accounts"), amount=Sum("placed_amount"))
    ):
        placed[(row["currency"], row["month"])] = (row["accounts"], row["amount"])
    months = {key[1] for key in placed}
    collected: dict[tuple[str, date, int], Decimal] = defaultdict(Decimal)
    if months:
        for row in (
            filters.rollup(CollectedDay.objects.all(), channel=False, days=False)
            .filter(placed_month__in=months)
            .values("currency", "placed_month", month=TruncMonth("day"))
            .annotate(amount=Sum("amount"))
        ):
            k = _months_between(row["placed_month"], row["month"])
            collected[(row["currency"], row["placed_month"], k)] += row["amount"]
    return placed, collected


def liquidation_charts(filters: CockpitFilters, today: date) -> list[charts.LineChart]:
    """Per currency, one line per placement month: the share of the amount placed that month
    collected by the end of each month since placement (0: the placement month itself)."""
    placed, collected = _cohorts(filters)
    out = []
    for currency in sorted({key[0] for key in placed}):
        cohorts = sorted(m for c, m in placed if c == currency)
        ages = {m: _months_between(m, today) for m in cohorts}
        span = max(ages.values()) + 1
        series, rows = [], []
        for month in cohorts:
            accounts, amount = placed[(currency, month)]
            running, values, links = Decimal(0), [], []
            for k in range(span):
                running += collected.get((currency, month, k), Decimal(0))
                values.append(float(running / amount) if amount and k <= ages[month] else None)
                links.append(
                    payments_link(filters, month, min(_month_end(month, k), today),
                                  currency=currency, placed=month.strftime("%Y-%m"))
                )  # fmt: skip
            series.append(Series(month.strftime("%Y-%m"), values, urls=links))
            rows.append(
                [
                    Cell(month.strftime("%Y-%m"), links[ages[month]]),
                    f"{accounts:,}",
                    money_text(amount, currency),
                    money_text(running, currency),
                    *(charts.percent(v) if v is not None else "" for v in values[:13]),
                ]
            )
        out.append(
            charts.LineChart(
                title=_("Share of the amount placed collected, by months since placement, %(c)s")
                % {"c": currency},
                labels=[str(k) for k in range(span)],
                series=series[-MAX_COHORTS:],
                fmt=charts.percent,
                table=ChartTable(
                    _("Liquidation by placement month, %(c)s (months since placement)")
                    % {"c": currency},
                    [
                        _("Placed in"),
                        _("Accounts"),
                        _("Placed"),
                        _("Collected"),
                        *(str(k) for k in range(min(span, 13))),
                    ],
                    rows,
                ),
            )
        )
    return out


def _account_link(filters: CockpitFilters, statuses: list[str]) -> str:
    return _admin_link(
        "admin:accounts_account_changelist",
        filters,
        "creditor__id__exact",
        status__in=",".join(statuses),
    )


def status_chart(filters: CockpitFilters) -> charts.BarChart:
    """Accounts by status at the end of each day with a snapshot (each week's last one when
    the period is longer than nine weeks), stacked."""
    counts: dict[date, dict[str, int]] = defaultdict(dict)
    for row in (
        filters.rollup(AccountStatusDay.objects.all(), channel=False)
        .values("day", "status")
        .annotate(accounts=Sum("accounts"))
    ):
        counts[row["day"]][row["status"]] = row["accounts"]
    days = sorted(counts)
    if len(days) > 63:
        last = {_week_of(d): d for d in days}  # sorted: each week keeps its last day
        days = sorted(last.values())
    bands = [
        [sum(counts[d].get(s, 0) for s in statuses) for d in days]
        for _name, statuses in STATUS_BANDS
    ]
    links = [_account_link(filters, statuses) for _name, statuses in STATUS_BANDS]
    return charts.BarChart(
        title=_("Accounts by status at the end of each day"),
        labels=[d.strftime("%m-%d") for d in days],
        series=[
            Series(str(name), values, urls=[link] * len(days))
            for (name, _s), values, link in zip(STATUS_BANDS, bands, links, strict=True)
        ],
        stacked=True,
        table=ChartTable(
            _("Accounts by status at the end of each day (UTC)"),
            [
                _("Day"),
                *(Cell(str(n), link) for (n, _s), link in zip(STATUS_BANDS, links, strict=True)),
            ],
            [[d.isoformat(), *(f"{b[i]:,}" for b in bands)] for i, d in enumerate(days)],
        ),
    )


def _plans_link(filters: CockpitFilters, monday: date) -> str:
    return _admin_link(
        "admin:accounts_paymentplan_changelist",
        filters,
        "account__creditor__id__exact",
        due_week=monday.isoformat(),
    )


def adherence(filters: CockpitFilters) -> tuple[charts.BarChart, dict[str, int]]:
    """Instalments due each week by what became of them, stacked; and the period's totals."""
    per_week: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in (
        filters.rollup(InstalmentDay.objects.all(), channel=False)
        .values("day", "outcome")
        .annotate(n=Sum("instalments"))
    ):
        per_week[_week_of(row["day"])][row["outcome"]] += row["n"]
    mondays = weeks(filters)
    links = [_plans_link(filters, m) for m in mondays]
    values = {o: [per_week[m][o] if m in per_week else 0 for m in mondays] for o, _l in OUTCOMES}
    totals = {o: sum(v) for o, v in values.items()}
    rows = []
    for i, m in enumerate(mondays):
        if m not in per_week:
            continue
        counts = [values[o][i] for o, _l in OUTCOMES]
        settled = sum(counts[:3])
        rows.append([Cell(m.isoformat(), links[i]), *(f"{n:,}" for n in counts),
                     rate_text(counts[0], settled)])  # fmt: skip
    chart = charts.BarChart(
        title=_("Plan instalments due each week, by outcome"),
        labels=[m.strftime("%m-%d") for m in mondays],
        series=[Series(_(label), values[o], urls=links) for o, label in OUTCOMES],
        stacked=True,
        table=ChartTable(
            _("Plan instalments due each week (from Monday), by outcome"),
            [
                _("Week of"),
                *(_(label) for _o, label in OUTCOMES),
                _("On time, of those paid or missed"),
            ],
            rows,
        ),
    )
    return chart, totals


def headlines(filters: CockpitFilters, totals: dict[str, Any], instalments: dict[str, int]):
    out = [
        headline(
            _("Collected, %(c)s") % {"c": currency},
            money_text(amount, currency),
            _("%(n)s payments") % {"n": f"{payments:,}"},
            payments_link(filters, filters.start, filters.end, currency=currency),
        )
        for currency, (amount, payments) in totals.items()
    ]
    placed = filters.rollup(PlacementDay.objects.all(), channel=False).aggregate(
        accounts=Sum("accounts"), paying=Sum("paying"), resolved=Sum("resolved")
    )
    accounts = placed["accounts"] or 0
    if accounts:
        out.append(
            headline(
                _("Placed in the period and paying"),
                rate_text(placed["paying"], accounts),
                _("%(n)s of %(m)s accounts have paid something (95%% interval)")
                % {"n": f"{placed['paying']:,}", "m": f"{accounts:,}"},
            )
        )
        out.append(
            headline(
                _("Placed in the period and resolved"),
                rate_text(placed["resolved"], accounts),
                _("%(n)s of %(m)s paid in full or settled")
                % {"n": f"{placed['resolved']:,}", "m": f"{accounts:,}"},
            )
        )
    settled = instalments[InstalmentOutcome.ON_TIME] + instalments[InstalmentOutcome.LATE]
    settled += instalments[InstalmentOutcome.MISSED]
    if settled:
        out.append(
            headline(
                _("Instalments paid on time"),
                rate_text(instalments[InstalmentOutcome.ON_TIME], settled),
                _("of %(n)s due in the period and paid or missed") % {"n": f"{settled:,}"},
            )
        )
    return out


def recovery(request: HttpRequest) -> HttpResponse:
    form, filters = filters_for(request)
    today = timezone.now().date()
    collected, totals = collected_charts(filters)
    plan_chart, instalments = adherence(filters)
    context = {
        "headlines": headlines(filters, totals, instalments),
        "collected": collected,
        "liquidation": liquidation_charts(filters, today),
        "statuses": status_chart(filters),
        "adherence": plan_chart,
    }
    return cockpit_render(request, section="recovery", form=form, filters=filters, context=context)
