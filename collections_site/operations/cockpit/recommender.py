"""The Recommender page (`/admin/operations/recommender/`): does the policy beat the random
control arm, by how much, and is there enough data to say?

- The conversion uplift of the policy arm over the control arm, cumulated day by day over
  the period with its 95% interval, shown only from the day both arms hold the sample a
  power calculation needs (`recommender.selectors.uplift_guard`); until then the page says
  how many more conversions each arm needs instead of a number.
- Each arm's cumulative conversion rate with its 95% band, and the arms' weekly shares of
  the planner's sends.
- The live model, the latest candidates and their off-policy values on held-out logs.
- Conversion by debtor typology.

Counts come from the rollups (`EngagementDay`, `TypologyDay`, planner's messages only: those
with an arm); the models from `ModelVersion` (a few rows).
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from itertools import accumulate
from typing import Any

from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from accounts.tenancy import is_agency_staff
from collections_site.operations.cockpit import charts
from collections_site.operations.cockpit.charts import Cell, ChartTable, Series
from collections_site.operations.cockpit.engagement import outbox_link
from collections_site.operations.cockpit.filters import CockpitFilters
from collections_site.operations.cockpit.pages import cockpit_render, filters_for
from collections_site.operations.models import EngagementDay, TypologyDay
from messaging.models import Arm
from recommender import evaluation
from recommender.evaluation import Rate, promotion_power_text, relative_uplift, wilson
from recommender.models import ModelStatus, ModelVersion
from recommender.selectors import send_time_split, uplift_guard

ARMS = (Arm.POLICY, Arm.CONTROL)
MODELS_SHOWN = 8


def _rate(r: Rate) -> str:
    if r.rate is None:
        return "-"
    return f"{charts.percent(r.rate)} [{charts.percent(r.lower)}, {charts.percent(r.upper)}]"


def _signed(value: float) -> str:
    return f"{value:+.0%}" if abs(value) >= 0.1 else f"{value:+.1%}"


def daily_arms(filters: CockpitFilters) -> dict[str, dict[date, tuple[int, int]]]:
    """(sent, converted) per arm per day of the period."""
    out: dict[str, dict[date, tuple[int, int]]] = {arm: {} for arm in ARMS}
    rows = (
        filters.rollup(EngagementDay.objects.filter(arm__in=ARMS))
        .values("arm", "day")
        .annotate(sent=Sum("sent"), converted=Sum("converted"))
    )
    for r in rows:
        out[r["arm"]][r["day"]] = (r["sent"], r["converted"])
    return out


def guard_text(guard: dict[str, Any], control: Rate) -> str:
    """'Not enough data yet' in conversions each arm still needs (sends at the expected
    rate), with the sends behind them."""
    baseline = guard["baseline_rate"]
    expected = {"control": baseline, "policy": baseline * (1 + guard["min_detectable"])}
    more = guard["more_per_arm"]
    conversions = {arm: math.ceil(more[arm] * expected[arm]) for arm in more}
    return _(
        "Not enough data yet: about %(control)s more conversions in the control arm and "
        "%(policy)s in the policy arm (%(control_sends)s and %(policy_sends)s more sends) "
        "before an uplift of %(minimum)s could be told from chance."
    ) % {
        "control": f"{conversions['control']:,}",
        "policy": f"{conversions['policy']:,}",
        "control_sends": f"{more['control']:,}",
        "policy_sends": f"{more['policy']:,}",
        "minimum": f"{guard['min_detectable']:.0%}",
    }


def _uplift_series(rates: dict[str, list[Rate]]):
    """Per day, the cumulative uplift and its band, or None where the sample does not suffice."""
    uplift: list[float | None] = []
    band: list[tuple[float, float] | None] = []
    for policy, control in zip(rates[Arm.POLICY], rates[Arm.CONTROL], strict=True):
        guard = uplift_guard("conversion", policy=policy, control=control)
        u = relative_uplift(policy, control)
        shown = guard["enough"] and u.value is not None
        uplift.append(u.value if shown else None)
        band.append((u.lower, u.upper) if shown else None)
    return uplift, band


def _headline(policy: Rate, control: Rate) -> tuple[dict[str, str], dict[str, Any]]:
    """The period's uplift with its interval, or what the guard still needs."""
    guard = uplift_guard("conversion", policy=policy, control=control)
    final = relative_uplift(policy, control)
    if guard["enough"] and final.value is not None:
        value = {
            "value": _signed(final.value),
            "interval": f"[{_signed(final.lower)}, {_signed(final.upper)}]",
        }
        return value, guard
    return {"message": guard_text(guard, control)}, guard


def send_time_headline(filters: CockpitFilters) -> dict[str, str] | None:
    """What choosing the send hour is worth in the period: the policy arm's conversion uplift
    over the send-time arm (the same policy, its hour drawn at random), with its interval, or
    what the guard still needs; None when the send-time arm sent nothing in the period."""
    rows = {
        r["arm"]: r
        for r in filters.rollup(EngagementDay.objects.filter(arm__in=[Arm.POLICY, Arm.SEND_TIME]))
        .values("arm")
        .annotate(sent=Sum("sent"), converted=Sum("converted"))
        .order_by()
    }
    timed_row = rows.get(Arm.SEND_TIME)
    if not timed_row or not timed_row["sent"]:
        return None
    policy_row = rows.get(Arm.POLICY) or {"sent": 0, "converted": 0}
    policy = wilson(policy_row["converted"], policy_row["sent"])
    timed = wilson(timed_row["converted"], timed_row["sent"])
    share = send_time_split(policy_sends=policy.trials, send_time_sends=timed.trials)
    guard = uplift_guard("conversion", policy=policy, control=timed, share=share,
                         arm_name="send-time")  # fmt: skip
    u = relative_uplift(policy, timed)
    out = {"arm": f"{timed.successes:,} / {timed.trials:,}", "share": charts.percent(share)}
    if guard["enough"] and u.value is not None:
        return out | {
            "value": _signed(u.value),
            "interval": f"[{_signed(u.lower)}, {_signed(u.upper)}]",
        }
    return out | {"message": guard["message"].capitalize()}


def _arm_rows(days, cum) -> list[list[str]]:
    """The rates' table: per day with sends, each arm's conversions over sends so far."""
    return [
        [d.isoformat(), *(f"{cum[arm][i][1]:,} / {cum[arm][i][0]:,}" for arm in ARMS)]
        for i, d in enumerate(days)
        if cum[Arm.POLICY][i][0] or cum[Arm.CONTROL][i][0]
    ]


def _uplift_rows(days, uplift, band) -> list[list[str]]:
    """The uplift's table: per day it is drawn, the uplift with its 95% interval."""
    return [
        [d.isoformat(), _signed(uplift[i]) + f" [{_signed(band[i][0])}, {_signed(band[i][1])}]"]
        for i, d in enumerate(days)
        if uplift[i] is not None and band[i]
    ]


def _sends_end(days: list[date], per_day) -> int:
    """One past the period's last day with sends (0 when none). After it a cumulative figure
    only repeats itself: the lines and the table stop there rather than draw a flat run to
    the period's end."""
    sent = [i for i, d in enumerate(days) if any(per_day[a].get(d, (0, 0))[0] for a in ARMS)]
    return sent[-1] + 1 if sent else 0


def _until(values: list, end: int) -> list:
    """`values` up to `end`, None after it."""
    return values[:end] + [None] * (len(values) - end)


def uplift_charts(filters: CockpitFilters, per_day) -> dict[str, Any]:
    """The headline, the cumulative uplift (only where the sample suffices) and the arms'
    cumulative rates, over the period's days."""
    days = filters.days()
    labels = [d.strftime("%m-%d") for d in days]
    cum = {
        arm: list(
            accumulate(
                (per_day[arm].get(d, (0, 0)) for d in days),
                lambda a, b: (a[0] + b[0], a[1] + b[1]),
            )
        )
        for arm in ARMS
    }
    rates: dict[str, list[Rate]] = {arm: [wilson(c, s) for s, c in cum[arm]] for arm in ARMS}
    uplift, band = _uplift_series(rates)
    headline, guard = _headline(rates[Arm.POLICY][-1], rates[Arm.CONTROL][-1])
    end = _sends_end(days, per_day)
    uplift, band = _until(uplift, end), _until(band, end)

    return {
        "headline": headline,
        "guard": guard,
        "final": {arm: f"{rates[arm][-1].successes:,} / {rates[arm][-1].trials:,}" for arm in ARMS},
        "uplift": charts.LineChart(
            title=_("Cumulative conversion uplift of the policy over the random control"),
            labels=labels,
            series=[Series(_("Uplift"), uplift, band=band)],
            fmt=_signed,
            zero=False,
            table=ChartTable(
                _("Cumulative conversion uplift with its 95% interval"),
                [_("Up to day (UTC)"), _("Uplift")],
                _uplift_rows(days[:end], uplift, band)[-31:],  # the last month; the chart the rest
            ),
        ),
        "rates": _rates_chart(filters, days, labels, rates, cum, end),
    }


def _rates_chart(
    filters: CockpitFilters,
    days: list[date],
    labels: list[str],
    rates: dict[str, list[Rate]],
    cum: dict[str, list[tuple[int, int]]],
    end: int,
) -> charts.LineChart:
    """Each arm's cumulative conversion rate with its band, up to the last day with sends
    (`end`); a point links to that arm's converted messages; the table holds each arm's
    conversions over sends (`cum`)."""
    return charts.LineChart(
        title=_("Cumulative conversion rate per arm, with 95% bands"),
        labels=labels,
        series=[
            Series(
                str(Arm(arm).label),
                _until([r.rate for r in rates[arm]], end),
                band=_until(
                    [(r.lower, r.upper) if r.rate is not None else None for r in rates[arm]], end
                ),
                urls=[  # links for the drawn points only (none after `end`)
                    outbox_link(filters, arm=arm, planned="true", sent_to=d, reached="converted")
                    if i < end
                    else ""
                    for i, d in enumerate(days)
                ],
            )
            for arm in ARMS
        ],
        fmt=charts.percent,
        table=ChartTable(
            _("Cumulative conversions over sends per arm"),
            [_("Up to day (UTC)"), _("Policy"), _("Random control")],
            _arm_rows(days[:end], cum)[-31:],  # the last month of days; the chart the rest
        ),
    )


def _weeks(days: list[date]) -> list[date]:
    return sorted({d - timedelta(days=d.weekday()) for d in days})


def shares_chart(filters: CockpitFilters, per_day) -> charts.BarChart:
    """Sends per arm per week (stacked), with the policy's share in the table."""
    weeks = _weeks(filters.days())
    sent = {arm: dict.fromkeys(weeks, 0) for arm in ARMS}
    for arm in ARMS:
        for d, (s, _c) in per_day[arm].items():
            sent[arm][d - timedelta(days=d.weekday())] += s
    rows = []
    for w in weeks:
        total = sent[Arm.POLICY][w] + sent[Arm.CONTROL][w]
        if total:
            share = sent[Arm.CONTROL][w] / total
            rows.append([
                w.isoformat(), f"{sent[Arm.POLICY][w]:,}", f"{sent[Arm.CONTROL][w]:,}",
                charts.percent(share),
            ])  # fmt: skip
    return charts.BarChart(
        title=_("The planner's sends per week, by arm"),
        labels=[w.strftime("%m-%d") for w in weeks],
        series=[
            Series(
                str(Arm(arm).label),
                [sent[arm][w] for w in weeks],
                urls=[
                    outbox_link(
                        filters,
                        arm=arm,
                        planned="true",
                        sent_from=max(w, filters.start),
                        sent_to=min(w + timedelta(days=6), filters.end),
                    )
                    for w in weeks
                ],
            )
            for arm in ARMS
        ],
        stacked=True,
        table=ChartTable(
            _("Sends per week by arm (weeks start on Monday)"),
            [_("Week"), _("Policy"), _("Random control"), _("Control share")],
            rows,
        ),
    )


def _model_url(model: ModelVersion) -> str:
    try:
        return reverse("admin:recommender_modelversion_change", args=[model.pk])
    except NoReverseMatch:
        return ""


def models_table() -> ChartTable:
    """The live model and the latest candidates, with their off-policy values on held-out
    logs: the value of the model's policy (conversions per decision) and its difference from
    uniform random and from the model that was live, with 95% intervals."""
    models = ModelVersion.objects.defer("artifact").order_by("-trained_at")[:MODELS_SHOWN]
    live = ModelVersion.objects.defer("artifact").filter(status=ModelStatus.LIVE).first()
    shown = list(models)
    if live and live.pk not in {m.pk for m in shown}:
        shown.insert(0, live)
    rows = []
    for m in shown:
        metrics = m.metrics or {}
        value = metrics.get("value")
        rows.append([
            Cell(m.label, _model_url(m)),
            m.get_status_display(),
            m.trained_at.strftime("%Y-%m-%d %H:%M"),
            f"{m.rows_used:,}",
            f"{value:.4f}" if isinstance(value, int | float) else "-",
            evaluation.difference_text(metrics.get("vs_random")),
            evaluation.difference_text(metrics.get("vs_live")),
            promotion_power_text(metrics),
        ])  # fmt: skip
    return ChartTable(
        _("Models, newest first: off-policy values on held-out logs (95% intervals)"),
        [
            _("Model"), _("Status"), _("Trained (UTC)"), _("Decisions fitted"),
            _("Value (conversions per decision)"), _("Versus random"), _("Versus the live model"),
            _("Power of the promotion test"),
        ],
        rows,
    )  # fmt: skip


def _models_none_text() -> str:
    """What the models panel says before any model was trained: when one will be."""
    return _(
        "No model has been trained yet: the nightly retraining fits the first one once at "
        "least %(rows)s decisions are older than the %(days)s-day attribution window "
        "(RECOMMENDER_MIN_TRAIN_ROWS and RECOMMENDER_REWARD_DELAY_DAYS; manage.py retrain does "
        "the same at once)."
    ) % {
        "rows": f"{settings.RECOMMENDER_MIN_TRAIN_ROWS:,}",
        "days": f"{settings.RECOMMENDER_REWARD_DELAY_DAYS:g}",
    }


def _models_panel(request: HttpRequest) -> tuple[ChartTable | None, str]:
    """The models table and a note in its place (when there is nothing to list, or for a
    creditor's staff: the models are fitted on every creditor's decisions, so their values
    and row counts are the agency's figures, not one creditor's)."""
    if not is_agency_staff(request.user):
        return None, _(
            "The models are fitted on every creditor's decisions, so only the agency's staff "
            "see them and their figures."
        )
    models = models_table()
    return models, "" if models.rows else _models_none_text()


def typology_chart(filters: CockpitFilters) -> charts.BarChart:
    groups = list(
        filters.rollup(TypologyDay.objects.all())
        .values("typology")
        .annotate(sent=Sum("sent"), converted=Sum("converted"))
        .order_by("typology")
    )
    names = [g["typology"] or _("not computed") for g in groups]
    rates = [wilson(g["converted"], g["sent"]) for g in groups]
    return charts.BarChart(
        title=_("Conversion rate by debtor typology, with 95% intervals"),
        labels=names,
        series=[
            Series(
                _("Conversion rate"),
                [r.rate or 0 for r in rates],
                band=[(r.lower, r.upper) if r.rate is not None else None for r in rates],
            )
        ],
        fmt=charts.percent,
        table=ChartTable(
            _("Conversion by typology (W/D willing or defiant, A/I able or insolvent, O/C "
              "organised or chaotic, E/R emotional or rational), with 95% intervals"),
            [_("Typology"), _("Sent"), _("Converted"), _("Conversion rate")],
            [
                [n, f"{g['sent']:,}", f"{g['converted']:,}", _rate(r)]
                for n, g, r in zip(names, groups, rates, strict=True)
            ],
        ),
    )  # fmt: skip


def recommender(request: HttpRequest) -> HttpResponse:
    form, filters = filters_for(request)
    per_day = daily_arms(filters)
    live = ModelVersion.objects.defer("artifact", "metrics").filter(status=ModelStatus.LIVE).first()
    models, models_note = _models_panel(request)
    context = {
        **uplift_charts(filters, per_day),
        "shares": shares_chart(filters, per_day),
        "control_share_pct": charts.percent(float(settings.RECOMMENDER_CONTROL_SHARE)),
        "live": live,
        "models": models,
        "models_note": models_note,
        "typology": typology_chart(filters),
        "send_time": send_time_headline(filters),
    }
    return cockpit_render(
        request, section="recommender", form=form, filters=filters, context=context
    )
