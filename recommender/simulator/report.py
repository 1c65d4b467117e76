"""The simulation's summary (per arm and per week, with the world's true values), the export
of its decisions for `bench/recommender.py`, and the learning-curve plot."""

from __future__ import annotations

import itertools
import json
import math
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from messaging.models import Message
from recommender import evaluation, learning, selectors, services
from recommender import features as F
from recommender.models import Decision

if TYPE_CHECKING:
    from recommender.simulator.run import Simulation


OFFLINE_CHUNK = 2_000
"""Decisions the offline learner scores per call (bounded memory)."""


def summarise(sim: Simulation) -> dict[str, Any]:
    """The JSON summary of a finished run: per arm in total and per week (sends, opens,
    clicks, conversions with Wilson intervals, the uplift over the control arm, and over the
    send-time arm when it is on: what choosing the hour is worth), the world's
    true expected conversion, the models trained; writes the export and the plot if asked."""
    weeks, total = _counts(sim)
    truth = _truth_by(sim.expected, key=lambda e: e["day"] // 7)
    summary = {
        "config": {
            "debtors": sim.cfg.debtors,
            "days": sim.cfg.days,
            "seed": sim.cfg.seed,
            "start": sim.cfg.start.isoformat(),
            "send_time_share": sim.cfg.send_time_share,
        },
        "planning": dict(sim.planning),
        "total": _arm_block(total),
        "weeks": {str(w): _arm_block(weeks[w]) for w in sorted(weeks)},
        "true_expected_conversion": {
            "note": "World ground truth per decision: the chosen archetype, a uniform pick "
            "among the eligible ones, and the best eligible one (mean per send).",
            "total": _truth_by(sim.expected, key=lambda e: 0).get(0),
            "weeks": {str(k): v for k, v in sorted(truth.items())},
        },
        "models": sim.models,
    }
    if sim.cfg.timings:
        summary["runtime_seconds"] = round(getattr(sim, "seconds", 0.0), 1)
        summary["timings_seconds"] = {k: round(v, 1) for k, v in sorted(sim.timings.items())}
    offline = offline_learner(sim)
    summary["gap_closed"] = gap_closed(sim, offline)
    if sim.cfg.export is not None:
        export(sim, sim.cfg.export)
        summary["export"] = str(sim.cfg.export)
    if sim.cfg.png is not None:
        # Named only when written: a run that decided nothing has no curve to draw.
        summary["learning_curve_png"] = (
            str(sim.cfg.png) if plot(sim, sim.cfg.png, offline) else None
        )
    return summary


_CHOICE_KEYS = (
    "family", "step_columns", "prior_shared", "prior_per_action", "prior_intercept",
    "propensity_power",
)  # fmt: skip


def model_choice(model: Any) -> dict[str, Any]:
    """What a night's fit chose (its policy's metadata): the model family, the step columns
    kept, the prior scales and the propensity power. Seen night after night, they show how
    steady the learner's choices are on the logs the loop gives it."""
    meta = learning.Policy.from_bytes(bytes(model.artifact)).meta
    return {key: meta.get(key) for key in _CHOICE_KEYS}


def _counts(
    sim: Simulation,
) -> tuple[dict[int, dict[str, dict[str, float]]], dict[str, dict[str, float]]]:
    """Sends, opens, clicks, conversions (as the database recorded them) and amounts, per
    week and arm and in total per arm."""
    db = {
        pk: (conv is not None)
        for pk, conv in Message.objects.filter(pk__in=list(sim.outcomes)).values_list(
            "pk", "converted_at"
        )
    }
    arms = ("policy", "control", *(("send_time",) if sim.cfg.send_time_share else ()))
    weeks: dict[int, dict[str, dict[str, float]]] = defaultdict(
        lambda: {arm: _blank() for arm in arms}
    )
    total = {arm: _blank() for arm in arms}
    for pk, o in sim.outcomes.items():
        for bucket in (weeks[o.day // 7][o.arm], total[o.arm]):
            bucket["sends"] += 1
            bucket["opens"] += o.opened
            bucket["clicks"] += o.clicked
            bucket["conversions"] += db.get(pk, False)
            bucket["amount_recovered"] += o.amount
    return weeks, total


def _arm_block(arms: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Counts and rates per arm, and the policy arm's uplift over the control arm."""
    rates = {
        arm: {
            metric: evaluation.wilson(int(c[key]), int(c["sends"]))
            for metric, key in (("conversion", "conversions"), ("click", "clicks"))
        }
        for arm, c in arms.items()
    }
    out: dict[str, Any] = {
        arm: {
            **{k: (round(v, 2) if isinstance(v, float) else int(v)) for k, v in c.items()},
            "conversion_rate": rates[arm]["conversion"].as_dict(),
            "click_rate": rates[arm]["click"].as_dict(),
        }
        for arm, c in arms.items()
    }
    if "send_time" in arms:
        # What choosing the send hour is worth: the policy over itself at a random hour.
        out["uplift_vs_random_send_time"] = {
            metric: evaluation.relative_uplift(
                rates["policy"][metric], rates["send_time"][metric]
            ).as_dict()
            for metric in ("conversion", "click")
        }
    p, c = arms["policy"], arms["control"]
    out["uplift_vs_random"] = {
        **{
            metric: evaluation.relative_uplift(
                rates["policy"][metric], rates["control"][metric]
            ).as_dict()
            for metric in ("conversion", "click")
        },
        "amount_per_send": (
            p["amount_recovered"] / p["sends"] / (c["amount_recovered"] / c["sends"]) - 1
            if p["sends"] and c["sends"] and c["amount_recovered"]
            else None
        ),
    }
    return out


def export(sim: Simulation, path: Path) -> None:
    """Save the sent decisions with the world's true value of every eligible action
    (`bench/recommender.py` evaluates policies on them exactly)."""

    rows = Decision.objects.filter(message__sent_at__isnull=False).order_by("decided_at", "id")
    contexts, eligibles, A, P, R, T = [], [], [], [], [], []  # the first two still packed
    for mid, ctx, el, action, prop, conv in rows.values_list(
        "message_id", "context", "eligible", "action", "propensity", "message__converted_at"
    ):
        if mid not in sim.truth:
            continue
        contexts.append(ctx)
        eligibles.append(el)
        A.append(action)
        P.append(prop)
        R.append(1.0 if conv is not None else 0.0)
        T.append(sim.truth[mid])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path, X=Decision.unpack_contexts(contexts, F.N_FEATURES).astype(np.float64),
        actions=np.array(A), propensities=np.array(P), rewards=np.array(R),
        eligible=Decision.unpack_eligibles(eligibles, F.N_ACTIONS), truth=np.array(T),
    )  # fmt: skip


def offline_learner(sim: Simulation) -> dict[int, dict[str, float]] | None:
    """The learner fitted once, offline, on ALL the run's logs (the nightly retraining's
    learner configuration), scored with the world's truth on the decisions the policy arm made:
    per message id, the true expected conversion of its probabilities as deployed
    (`explore=True`: Thompson sampling and the floor) and of its greedy pick. The distance
    between it and the policy that was deployed day by day is what learning in closed loop
    lost (its own skewed logs, promotions, the models it did not fit). None when the logs are
    too few to fit (`min_rows`)."""
    options = services.RetrainOptions.from_settings(**sim.cfg.retrain_options)
    end = sim.cfg.start + timedelta(days=sim.cfg.days)
    logs = selectors.decision_logs(
        until=end, max_rows=max(1, Decision.objects.count()), chunk=options.chunk,
        click_reward=options.click_reward,
    )  # fmt: skip
    if logs.n < options.min_rows:
        return None
    policy = learning.fit_policy(
        logs.X, logs.actions, logs.rewards, logs.propensities, n_actions=F.N_ACTIONS,
        action_features=F.action_features(), random_state=0,
        config=services.learner_config(options.learner),
    )  # fmt: skip
    ids = {e["message_id"] for e in sim.expected if e["arm"] == "policy"}
    rows = list(
        Decision.objects.filter(arm="policy")
        .order_by("message_id")
        .values_list("message_id", "context", "eligible")
    )
    rows = [r for r in rows if r[0] in ids]
    out: dict[int, dict[str, float]] = {}
    for start in range(0, len(rows), OFFLINE_CHUNK):
        part = rows[start : start + OFFLINE_CHUNK]
        X = Decision.unpack_contexts([ctx for _, ctx, _ in part], F.N_FEATURES).astype(np.float64)
        eligible = Decision.unpack_eligibles([el for _, _, el in part], F.N_ACTIONS)
        truth = np.nan_to_num(np.array([sim.truth[mid] for mid, _, _ in part], dtype=np.float64))
        # A row's probabilities do not depend on its batch (`learning.Policy`).
        deployed = (policy.probabilities(X, eligible=eligible, explore=True) * truth).sum(axis=1)
        greedy = (policy.probabilities(X, eligible=eligible, explore=False) * truth).sum(axis=1)
        for (mid, _, _), d, g in zip(part, deployed, greedy, strict=True):
            out[mid] = {"deployed": float(d), "greedy": float(g)}
    return out


def gap_closed(sim: Simulation, offline: dict[int, dict[str, float]] | None) -> dict[str, Any]:
    """Per simulated week, the share of the gap between a uniform pick and the best eligible
    action that the deployed policy closed (`(chosen - uniform) / (best - uniform)`, true
    expected values, the policy arm's decisions), beside the same share for the learner
    fitted offline on all the run's logs (`offline_learner`) on the same decisions."""
    groups: dict[Any, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for e in sim.expected:
        if e["arm"] != "policy":
            continue
        for key in (str(e["day"] // 7), "total"):
            g = groups[key]
            g["chosen"].append(e["chosen"])
            g["uniform"].append(e["uniform"])
            g["best"].append(e["best"])
            if offline is not None and e["message_id"] in offline:
                g["offline"].append(offline[e["message_id"]]["deployed"])
                g["offline_greedy"].append(offline[e["message_id"]]["greedy"])

    def share(g: dict[str, list[float]], name: str) -> float | None:
        if len(g[name]) != len(g["uniform"]) or not g["uniform"]:
            return None
        uniform, best = _mean(g["uniform"]), _mean(g["best"])
        return round((_mean(g[name]) - uniform) / (best - uniform), 4) if best > uniform else None

    def block(g: dict[str, list[float]]) -> dict[str, Any]:
        return {
            "decisions": len(g["uniform"]),
            "deployed": share(g, "chosen"),
            "deployed_se": _share_se(g["chosen"], g["uniform"], g["best"]),
            "offline_all_logs": share(g, "offline"),
            "offline_all_logs_greedy": share(g, "offline_greedy"),
        }

    weeks = sorted((k for k in groups if k != "total"), key=int)
    by_week = {w: block(groups[w]) for w in weeks}
    return {
        "note": "Share of the uniform-to-best gap closed, true expected values on the policy "
        "arm's decisions: the policy deployed day by day (with its standard error over the "
        "week's decisions), and the learner fitted offline on all the run's logs at the end "
        "(as deployed, and its greedy pick). `falls`: each week the deployed share fell from "
        "the week before, by how much, against the two weeks' sampling noise, and how the "
        "offline learner (one fixed policy) moved over the same weeks.",
        "weeks": by_week,
        "total": block(groups["total"]) if "total" in groups else None,
        "falls": _falls(by_week),
    }


def _share_se(chosen: list[float], uniform: list[float], best: list[float]) -> float | None:
    """Standard error of the share of the gap closed, `mean(chosen - uniform) / mean(best -
    uniform)` over the same decisions (the delta method for a ratio of means), from how the
    decisions of the week vary; None where the share is undefined."""
    n = len(chosen)
    gain = np.asarray(chosen) - np.asarray(uniform)
    gap = np.asarray(best) - np.asarray(uniform)
    if n < 2 or not gap.mean() > 0:
        return None
    ratio = gain.mean() / gap.mean()
    return round(float(np.std(gain - ratio * gap, ddof=1) / math.sqrt(n) / gap.mean()), 4)


def _falls(weeks: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each week whose deployed share is below the week before's: the drop, 1.96 standard
    errors of the difference, the two weeks' decisions taken as independent (`noise_95`),
    whether the drop is beyond them, and the offline learner's change over the same two weeks
    (a fixed policy: what the change of population alone does)."""
    out = []
    for before, after in itertools.pairwise(weeks):
        a, b = weeks[before], weeks[after]
        if None in (a["deployed"], b["deployed"], a["deployed_se"], b["deployed_se"]):
            continue
        drop = round(a["deployed"] - b["deployed"], 4)
        if drop <= 0:
            continue
        noise = round(evaluation.Z95 * math.hypot(a["deployed_se"], b["deployed_se"]), 4)
        offline = (
            round(b["offline_all_logs"] - a["offline_all_logs"], 4)
            if None not in (a["offline_all_logs"], b["offline_all_logs"])
            else None
        )
        out.append(
            {"week": after, "drop": drop, "noise_95": noise, "beyond_noise": drop > noise,
             "offline_change": offline}
        )  # fmt: skip
    return out


def plot(sim: Simulation, path: Path, offline: dict[int, dict[str, float]] | None = None) -> bool:
    """The learning curve: per day over a 7-day window, the true expected conversion of the
    policy arm's picks, of uniform picks, of the oracle (and of the learner fitted offline),
    and the observed conversion of each arm with its 95% Wilson band; promotions marked.
    False, and nothing written, when the run made no decision."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = sorted({e["day"] for e in sim.expected})
    if not days:
        return False
    series = _true_curves(sim, days, offline)
    fig, ax = plt.subplots(figsize=(9, 6), layout="constrained")
    ax.plot(days, series["best"], "k--", label="best eligible (oracle)")
    ax.plot(days, series["policy arm"], "C0-", lw=2, label="policy arm (true expected)")
    ax.plot(days, series["uniform random"], "C1-", label="uniform random (true expected)")
    if series["offline"]:
        ax.plot(days, series["offline"], "C2-", label="learner fitted offline on all logs (true)")
    styles = {"policy": "C0", "control": "C1", "send_time": "C4"}
    for arm, (rate, lower, upper) in _observed_curves(sim, days).items():
        colour = styles.get(arm, "C7")
        ax.plot(
            days, rate, color=colour, ls=":", label=f"{arm.replace('_', ' ')} arm (observed, 7-day)"
        )
        ax.fill_between(days, lower, upper, color=colour, alpha=0.12, lw=0)
    for m in sim.models:
        if m["status"] == "live":
            ax.axvline(m["day"], color="0.85", lw=0.8, zorder=0)
    ax.set_xlabel("simulated day")
    ax.set_ylabel("conversion probability per message")
    ax.set_title(
        f"Recommender learning curve ({sim.cfg.debtors} debtors, seed {sim.cfg.seed}); "
        "bands: 95% Wilson intervals; grey lines: promotions",
        fontsize=10,
    )
    # Below the plot: inside it, the legend hid the oracle's line or the bands of a long run.
    fig.legend(loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _true_curves(
    sim: Simulation, days: list[int], offline: dict[int, dict[str, float]] | None
) -> dict[str, list[float]]:
    """Per day, the 7-day means of the world's true values on the policy arm's decisions."""
    by_day: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in sim.expected:
        if e["arm"] == "policy":
            by_day[e["day"]].append(e)
    series: dict[str, list[float]] = {
        "policy arm": [], "uniform random": [], "best": [], "offline": []
    }  # fmt: skip
    for d in days:
        window = [e for day in range(d - 6, d + 1) for e in by_day.get(day, ())]
        series["policy arm"].append(_mean([e["chosen"] for e in window]))
        series["uniform random"].append(_mean([e["uniform"] for e in window]))
        series["best"].append(_mean([e["best"] for e in window]))
        if offline:
            scored = [offline[e["message_id"]] for e in window if e["message_id"] in offline]
            series["offline"].append(_mean([o["deployed"] for o in scored]))
    return series


def _observed_curves(
    sim: Simulation, days: list[int]
) -> dict[str, tuple[list[float], list[float], list[float]]]:
    """Per arm and day, the observed conversion over a 7-day window of sends with its 95%
    Wilson interval (rate, lower, upper; NaN without sends)."""
    counts: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for o in sim.outcomes.values():
        c = counts[o.arm][o.day]
        c[0] += int(o.converted)
        c[1] += 1
    out = {}
    for arm in ("policy", "control", "send_time"):
        if arm not in counts:
            continue
        rates = []
        for d in days:
            window = [counts[arm].get(day, (0, 0)) for day in range(d - 6, d + 1)]
            rates.append(evaluation.wilson(sum(w[0] for w in window), sum(w[1] for w in window)))
        out[arm] = tuple(
            [math.nan if getattr(r, name) is None else getattr(r, name) for r in rates]
            for name in ("rate", "lower", "upper")
        )
    return out


def _blank() -> dict[str, float]:
    return {"sends": 0, "opens": 0, "clicks": 0, "conversions": 0, "amount_recovered": 0.0}


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def _truth_by(expected: list[dict[str, Any]], key) -> dict[Any, dict[str, Any]]:
    groups: dict[Any, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for e in expected:
        g = groups[key(e)]
        g[f"{e['arm']}_chosen"].append(e["chosen"])
        g["uniform"].append(e["uniform"])
        g["best"].append(e["best"])
    out = {}
    for k, g in groups.items():
        row = {name: round(_mean(v), 5) for name, v in g.items()}
        if row.get("policy_chosen") and row.get("uniform"):
            row["policy_vs_uniform"] = round(row["policy_chosen"] / row["uniform"] - 1, 4)
            gap = row["best"] - row["uniform"]
            row["gap_closed"] = (
                round((row["policy_chosen"] - row["uniform"]) / gap, 4) if gap else None
            )
        out[k] = row
    return out


def keys_sorted(value: Any) -> Any:
    """`value` with every dict's keys in sorted order, whatever order the database kept."""
    if isinstance(value, dict):
        return {k: keys_sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [keys_sorted(v) for v in value]
    return value


def dump(summary: dict[str, Any]) -> str:
    """The summary as the JSON `manage.py simulate --json` writes."""
    return json.dumps(summary, indent=2, default=str)
