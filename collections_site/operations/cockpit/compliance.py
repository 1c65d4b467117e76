"""The Compliance page (`/admin/operations/compliance/`): the contact checks the compliance
engine refused, over time, by rule and by region; the rules that refuse most, with their
legal references; and the contacts stopped by a frequency cap.

Read from `ComplianceDay` and `ComplianceReasonDay`. A check is *rescheduled* when it was
refused with a later instant it would be allowed at, *blocked* when waiting lifts nothing
(a flag, a channel the debtor refused, missing consent). A check refused by two rules counts
once in the outcomes and once under each rule.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import Max, Sum
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from collections_site.operations.cockpit import charts
from collections_site.operations.cockpit.charts import Cell, ChartTable, Series
from collections_site.operations.cockpit.filters import CockpitFilters
from collections_site.operations.cockpit.pages import cockpit_render, filters_for
from collections_site.operations.cockpit.rates import headline, rate_text
from collections_site.operations.cockpit.recovery import weeks
from collections_site.operations.models import CheckOutcome, ComplianceDay, ComplianceReasonDay

TOP_RULES = 6
"""Rule codes drawn over time (a colour each); the table lists every rule."""
REFUSED = (CheckOutcome.RESCHEDULED, CheckOutcome.BLOCKED)


def decisions_link(filters: CockpitFilters, start: date | None = None, end: date | None = None,
                   **params: Any) -> str:  # fmt: skip
    """The compliance decisions' admin list: the checks made in the UTC days [start, end]
    (the filters' days by default) within the filters."""
    start, end = start or filters.start, end or filters.end
    after = end + timedelta(days=1)
    values = {
        "created_at__gte": datetime(start.year, start.month, start.day, tzinfo=UTC).isoformat(),
        "created_at__lt": datetime(after.year, after.month, after.day, tzinfo=UTC).isoformat(),
        "debtor__creditor__id__exact": filters.creditor.pk if filters.creditor else "",
        "region__exact": filters.region,
        "channel__exact": filters.channel,
        **params,
    }
    query = urlencode({k: v for k, v in values.items() if v not in ("", None)})
    return f"{reverse('admin:compliance_compliancedecision_changelist')}?{query}"


def _week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def outcomes_chart(filters: CockpitFilters) -> tuple[charts.BarChart, dict[str, int]]:
    """Refused checks per week, rescheduled and blocked stacked; and the period's totals of
    every outcome."""
    per_week: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    totals: dict[str, int] = defaultdict(int)
    for row in (
        filters.rollup(ComplianceDay.objects.all())
        .values("day", "outcome")
        .annotate(n=Sum("decisions"))
    ):
        per_week[_week_of(row["day"])][row["outcome"]] += row["n"]
        totals[row["outcome"]] += row["n"]
    mondays = weeks(filters)

    def links(outcome: str) -> list[str]:
        return [
            decisions_link(filters, max(m, filters.start), min(m + timedelta(6), filters.end),
                           outcome=outcome)
            for m in mondays
        ]  # fmt: skip

    series = [
        Series(str(o.label), [per_week[m][o] if m in per_week else 0 for m in mondays],
               urls=links(o))
        for o in REFUSED
    ]  # fmt: skip
    rows = []
    for m in mondays:
        week = per_week.get(m)
        if not week:
            continue
        checks = sum(week.values())
        refused = week[CheckOutcome.RESCHEDULED] + week[CheckOutcome.BLOCKED]
        rows.append(
            [Cell(m.isoformat(), decisions_link(filters, max(m, filters.start),
                                                min(m + timedelta(6), filters.end))),
             f"{checks:,}", f"{week[CheckOutcome.RESCHEDULED]:,}",
             f"{week[CheckOutcome.BLOCKED]:,}", rate_text(refused, checks)]
        )  # fmt: skip
    chart = charts.BarChart(
        title=_("Contact checks refused per week"),
        labels=[m.strftime("%m-%d") for m in mondays],
        series=series,
        stacked=True,
        table=ChartTable(
            _("Contact checks per week (from Monday, UTC)"),
            [_("Week of"), _("Checks"), _("Rescheduled"), _("Blocked"), _("Refused share")],
            rows,
        ),
    )
    return chart, dict(totals)


def _rules(filters: CockpitFilters) -> list[dict[str, Any]]:
    """Every rule that refused a check in the filters, most refusals first."""
    per_rule: dict[str, dict[str, Any]] = {}
    for row in (
        filters.rollup(ComplianceReasonDay.objects.all())
        .values("code", "outcome")
        .annotate(n=Sum("decisions"), debtors=Sum("debtors"), kind=Max("kind"),
                  citation=Max("citation"))
    ):  # fmt: skip
        rule = per_rule.setdefault(
            row["code"],
            {"code": row["code"], "kind": "", "citation": "", "total": 0, "debtors": 0,
             CheckOutcome.RESCHEDULED: 0, CheckOutcome.BLOCKED: 0},
        )  # fmt: skip
        rule[row["outcome"]] += row["n"]
        rule["total"] += row["n"]
        rule["debtors"] += row["debtors"]
        rule["kind"] = rule["kind"] or row["kind"]
        rule["citation"] = rule["citation"] or row["citation"]
    return sorted(per_rule.values(), key=lambda r: (-r["total"], r["code"]))


def rules_table(filters: CockpitFilters, rules: list[dict[str, Any]], caption: str) -> ChartTable:
    return ChartTable(
        caption,
        [_("Rule"), _("Kind"), _("Legal reference"), _("Rescheduled"), _("Blocked"),
         _("Debtor-days")],
        [
            [Cell(r["code"], decisions_link(filters, code=r["code"])), r["kind"] or "-",
             r["citation"] or "-",
             Cell(f"{r[CheckOutcome.RESCHEDULED]:,}",
                  decisions_link(filters, code=r["code"], outcome=CheckOutcome.RESCHEDULED)),
             Cell(f"{r[CheckOutcome.BLOCKED]:,}",
                  decisions_link(filters, code=r["code"], outcome=CheckOutcome.BLOCKED)),
             f"{r['debtors']:,}"]
            for r in rules
        ],
    )  # fmt: skip


def rules_over_time(filters: CockpitFilters, top: list[str]) -> charts.LineChart:
    """Refusals per week of the rules that refuse most."""
    per_week: dict[tuple[str, date], int] = defaultdict(int)
    for row in (
        filters.rollup(ComplianceReasonDay.objects.filter(code__in=top))
        .values("code", "day")
        .annotate(n=Sum("decisions"))
    ):
        per_week[(row["code"], _week_of(row["day"]))] += row["n"]
    mondays = weeks(filters)
    series = [
        Series(
            code,
            [per_week.get((code, m), 0) for m in mondays],
            urls=[
                decisions_link(
                    filters, max(m, filters.start), min(m + timedelta(6), filters.end), code=code
                )
                for m in mondays
            ],
        )
        for code in top
    ]
    return charts.LineChart(
        title=_("Checks refused per week by the rules that refuse most"),
        labels=[m.strftime("%m-%d") for m in mondays],
        series=series,
        table=ChartTable(
            _("Checks refused per week, by rule"),
            [_("Week of"), *top],
            [
                [m.isoformat(), *(f"{per_week.get((c, m), 0):,}" for c in top)]
                for m in mondays
                if any((c, m) in per_week for c in top)
            ],
        ),
    )


def regions_table(filters: CockpitFilters) -> ChartTable:
    per_region: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in (
        filters.rollup(ComplianceDay.objects.all())
        .values("region", "outcome")
        .annotate(n=Sum("decisions"))
    ):
        per_region[row["region"]][row["outcome"]] += row["n"]
    rows = []
    for region in sorted(per_region, key=lambda r: -sum(per_region[r].values())):
        counts = per_region[region]
        checks = sum(counts.values())
        refused = counts[CheckOutcome.RESCHEDULED] + counts[CheckOutcome.BLOCKED]
        link = decisions_link(filters, region__exact=region)
        rows.append(
            [Cell(region or "-", link), f"{checks:,}",
             Cell(f"{counts[CheckOutcome.RESCHEDULED]:,}",
                  decisions_link(filters, region__exact=region, outcome="rescheduled")),
             Cell(f"{counts[CheckOutcome.BLOCKED]:,}",
                  decisions_link(filters, region__exact=region, outcome="blocked")),
             rate_text(refused, checks)]
        )  # fmt: skip
    return ChartTable(
        _("Contact checks by the debtor's region, with the refused share (95% interval)"),
        [_("Region"), _("Checks"), _("Rescheduled"), _("Blocked"), _("Refused share")],
        rows,
    )


def headlines(filters: CockpitFilters, totals: dict[str, int], caps: list[dict[str, Any]]):
    checks = sum(totals.values())
    if not checks:
        return []
    out = [headline(_("Contact checks"), f"{checks:,}", url=decisions_link(filters))]
    for outcome in REFUSED:
        out.append(
            headline(
                str(outcome.label),
                rate_text(totals.get(outcome, 0), checks),
                _("%(n)s of %(m)s checks (95%% interval)")
                % {"n": f"{totals.get(outcome, 0):,}", "m": f"{checks:,}"},
                decisions_link(filters, outcome=outcome),
            )
        )
    capped = sum(r["total"] for r in caps)
    out.append(
        headline(
            _("Contacts stopped by a cap"),
            f"{capped:,}",
            _("refusals by a frequency cap rule"),
            decisions_link(filters, rule_kind="cap"),
        )
    )
    return out


def compliance(request: HttpRequest) -> HttpResponse:
    form, filters = filters_for(request)
    outcomes, totals = outcomes_chart(filters)
    rules = _rules(filters)
    caps = [r for r in rules if r["kind"] == "cap"]
    context = {
        "headlines": headlines(filters, totals, caps),
        "outcomes": outcomes,
        "over_time": rules_over_time(filters, [r["code"] for r in rules[:TOP_RULES]]),
        "rules": rules_table(filters, rules, _("The rules that refuse most, in the period")),
        "regions": regions_table(filters),
        "caps": rules_table(filters, caps, _("Checks stopped by a frequency cap, by rule")),
        "caps_url": decisions_link(filters, rule_kind="cap"),
        "has_rules": bool(rules),
        "has_caps": bool(caps),
    }
    return cockpit_render(
        request, section="compliance", form=form, filters=filters, context=context
    )
