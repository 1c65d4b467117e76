"""The Engagement page (`/admin/operations/engagement/`): the funnel sent -> delivered ->
opened -> clicked -> converted, overall, over time and by channel, tone, call to action,
journey stage or variant, each rate with its 95% interval; and the conversion rate by the
debtor's local weekday and hour at sending (the evidence for the send-time choice).

Read from `EngagementDay` and `SendTimeDay`: a handful of GROUP BY queries over the
rollups, whatever the number of messages.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.db.models import F, Sum
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from collections_site.operations.cockpit import charts
from collections_site.operations.cockpit.charts import Cell, ChartTable, Series
from collections_site.operations.cockpit.filters import CockpitFilters
from collections_site.operations.cockpit.pages import cockpit_render, filters_for
from collections_site.operations.models import EngagementDay, SendTimeDay
from messaging.models import CallToAction, JourneyStage
from recommender.evaluation import wilson

STAGES = ("sent", "delivered", "opened", "clicked", "converted")
STAGE_LABELS = {
    "sent": gettext_lazy("Sent"),
    "delivered": gettext_lazy("Delivered"),
    "opened": gettext_lazy("Opened"),
    "clicked": gettext_lazy("Clicked"),
    "converted": gettext_lazy("Converted"),
}
# ?by= : the dimension the funnel table is split by, and the rollup field it groups on.
BREAKDOWNS: dict[str, tuple[Any, str]] = {
    "channel": (gettext_lazy("Channel"), "channel"),
    "tone": (gettext_lazy("Tone"), "variant__tone__name"),
    "cta": (gettext_lazy("Call to action"), "variant__cta"),
    "stage": (gettext_lazy("Journey stage"), "stage"),
    "variant": (gettext_lazy("Variant"), "variant__name"),
}
WEEKDAYS = [gettext_lazy(d) for d in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")]


def outbox_link(filters: CockpitFilters, **more: Any) -> str:
    """The outbox listing the messages a figure counts: sent within the filters' days."""
    params = {"sent_from": filters.start, "sent_to": filters.end, "planned": ""}
    if filters.creditor:
        params["creditor"] = filters.creditor.pk
    if filters.region:
        params["region"] = filters.region
    if filters.channel:
        params["channel"] = filters.channel
    params.update(more)
    query = urlencode({k: v for k, v in params.items() if v not in ("", None)})
    return f"{reverse('messaging_outbox:index')}?{query}"


def _rate_text(successes: int, trials: int) -> str:
    r = wilson(successes, trials)
    if r.rate is None:
        return "-"
    return f"{charts.percent(r.rate)} [{charts.percent(r.lower)}, {charts.percent(r.upper)}]"


def _sums(qs) -> dict[str, int]:
    totals = qs.aggregate(**{s: Sum(s) for s in STAGES})
    return {s: totals[s] or 0 for s in STAGES}


def funnel_chart(filters: CockpitFilters, totals: dict[str, int]) -> charts.BarChart:
    links = [outbox_link(filters)] + [outbox_link(filters, reached=s) for s in STAGES[1:]]
    rows: list[list[Cell | str]] = []
    for i, stage in enumerate(STAGES):
        n = totals[stage]
        previous = totals[STAGES[i - 1]] if i else 0
        rows.append(
            [
                Cell(str(STAGE_LABELS[stage]), links[i]),
                f"{n:,}",
                _rate_text(n, totals["sent"]) if i else "",
                _rate_text(n, previous) if i else "",
            ]
        )
    return charts.BarChart(
        title=_("Engagement funnel"),
        labels=[str(STAGE_LABELS[s]) for s in STAGES],
        series=[Series(_("Messages"), [totals[s] for s in STAGES], urls=links)],
        table=ChartTable(
            _("Engagement funnel, with 95% intervals"),
            [_("Stage"), _("Messages"), _("Share of sent"), _("Share of the stage before")],
            rows,
        ),
    )


def daily_chart(filters: CockpitFilters, qs) -> charts.LineChart:
    per_day = {
        row["day"]: row
        for row in qs.values("day").annotate(sent=Sum("sent"), converted=Sum("converted"))
    }
    days = filters.days()
    labels = [d.strftime("%m-%d") for d in days]
    sent = [per_day.get(d, {}).get("sent", 0) for d in days]
    converted = [per_day.get(d, {}).get("converted", 0) for d in days]

    def day_links(**more: Any) -> list[str]:
        return [outbox_link(filters, sent_from=d, sent_to=d, **more) for d in days]

    return charts.LineChart(
        title=_("Messages sent and converted per day"),
        labels=labels,
        series=[
            Series(_("Sent"), sent, urls=day_links()),
            Series(_("Converted"), converted, urls=day_links(reached="converted")),
        ],
        table=ChartTable(
            _("Messages sent and converted per day"),
            [_("Day (UTC)"), _("Sent"), _("Converted"), _("Conversion rate")],
            [
                [d.isoformat(), f"{s:,}", f"{c:,}", _rate_text(c, s)]
                for d, s, c in zip(days, sent, converted, strict=True)
                if s
            ],
        ),
    )


def _label(by: str, value: Any) -> str:
    if value in (None, ""):
        return _("(none)")
    if by == "cta":
        return str(dict(CallToAction.choices).get(value, value))
    if by == "stage":
        return str(dict(JourneyStage.choices).get(value, value))
    return str(value)


def breakdown_table(filters: CockpitFilters, qs, by: str) -> ChartTable:
    label, field = BREAKDOWNS[by]
    groups = qs.values(key=F(field)).annotate(**{s: Sum(s) for s in STAGES}).order_by("-sent")
    rows: list[list[Cell | str]] = []
    for g in groups:
        link_filter = {"channel": g["key"]} if by == "channel" else {}
        if by == "stage":
            link_filter = {"stage": g["key"]}
        rows.append(
            [
                Cell(_label(by, g["key"]), outbox_link(filters, **link_filter)),
                f"{g['sent']:,}",
                *(_rate_text(g[s], g["sent"]) for s in STAGES[1:]),
            ]
        )
    return ChartTable(
        _("Funnel by %(dimension)s: each stage as a share of sent, with 95%% intervals")
        % {"dimension": str(label).lower()},
        [str(label), _("Sent"), *(str(STAGE_LABELS[s]) for s in STAGES[1:])],
        rows,
    )


def send_time_heatmap(filters: CockpitFilters) -> charts.Heatmap:
    cells = {
        (row["local_weekday"], row["local_hour"]): row
        for row in filters.rollup(SendTimeDay.objects.all())
        .values("local_weekday", "local_hour")
        .annotate(sent=Sum("sent"), converted=Sum("converted"))
    }
    hours = sorted({h for _, h in cells}) or list(range(8, 21))
    values, notes, urls, rows = [], [], [], []
    for wd in range(7):
        line, note, links = [], [], []
        for h in hours:
            c = cells.get((wd, h))
            line.append(c["converted"] / c["sent"] if c and c["sent"] else None)
            note.append(f"{c['converted']:,} of {c['sent']:,}" if c else "")
            # The messages the cell counts: sent in the period at that local weekday and hour.
            url = outbox_link(filters, local_weekday=wd, local_hour=h) if c else ""
            links.append(url)
            if c:
                rows.append(
                    [
                        Cell(f"{WEEKDAYS[wd]} {h:02d}:00", url),
                        f"{c['sent']:,}",
                        f"{c['converted']:,}",
                        _rate_text(c["converted"], c["sent"]),
                    ]
                )
        values.append(line)
        notes.append(note)
        urls.append(links)
    return charts.Heatmap(
        title=_("Conversion rate by the debtor's local weekday and hour at sending"),
        rows=[str(w) for w in WEEKDAYS],
        cols=[f"{h:02d}" for h in hours],
        values=values,
        notes=notes,
        urls=urls,
        table=ChartTable(
            _("Conversion by local send time, with 95% intervals"),
            [_("Local weekday and hour"), _("Sent"), _("Converted"), _("Conversion rate")],
            rows,
        ),
    )


def engagement(request: HttpRequest) -> HttpResponse:
    form, filters = filters_for(request)
    by = request.GET.get("by", "channel")
    by = by if by in BREAKDOWNS else "channel"
    qs = filters.rollup(EngagementDay.objects.all())
    totals = _sums(qs)
    context = {
        "totals": totals,
        "funnel": funnel_chart(filters, totals),
        "daily": daily_chart(filters, qs),
        "by": by,
        "breakdowns": [
            {"key": k, "label": v[0], "url": f"?{filters.query(by=k)}", "current": k == by}
            for k, v in BREAKDOWNS.items()
        ],
        "breakdown": breakdown_table(filters, qs, by),
        "heatmap": send_time_heatmap(filters),
    }
    return cockpit_render(
        request, section="engagement", form=form, filters=filters, context=context
    )
