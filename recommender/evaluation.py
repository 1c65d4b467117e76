"""Statistics for the uplift report and model promotion (Django-free, plain numpy).

- `wilson`: a binomial rate with its 95% Wilson score interval.
- `relative_uplift`: treatment rate / control rate - 1 with a 95% interval from the delta
  method on the log of the rate ratio (Katz), which stays inside (-1, inf).
- `snips_difference`: the self-normalised IPS value of two target policies on the same logs
  and a paired bootstrap interval of their difference.
- `two_proportion_sample_size`: the sends per arm a two-proportion test needs to detect a
  given relative uplift (the uplift report withholds its number below it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np

Z95 = 1.959963984540054
_NORMAL = NormalDist()
Z80 = _NORMAL.inv_cdf(0.80)


@dataclass(frozen=True)
class Rate:
    successes: int
    trials: int
    rate: float | None
    lower: float | None
    upper: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def wilson(successes: int, trials: int, z: float = Z95) -> Rate:
    """A rate and its Wilson score interval (None when there are no trials)."""
    if trials <= 0:
        return Rate(successes, trials, None, None, None)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return Rate(successes, trials, p, max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Uplift:
    value: float | None
    lower: float | None
    upper: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def relative_uplift(treated: Rate, control: Rate, z: float = Z95) -> Uplift:
    """Relative uplift of `treated` over `control` with a delta-method interval on log(RR).

    With zero successes in either group a half count is added to both (the usual continuity
    correction), so the interval stays finite; None without trials.
    """
    if not treated.trials or not control.trials:
        return Uplift(None, None, None)
    a, n1, c, n0 = treated.successes, treated.trials, control.successes, control.trials
    if a == 0 or c == 0:
        a, c, n1, n0 = a + 0.5, c + 0.5, n1 + 0.5, n0 + 0.5
    rr = (a / n1) / (c / n0)
    se = math.sqrt(max(0.0, 1 / a - 1 / n1 + 1 / c - 1 / n0))
    return Uplift(rr - 1, math.exp(math.log(rr) - z * se) - 1, math.exp(math.log(rr) + z * se) - 1)


@dataclass(frozen=True)
class SampleSize:
    """Sends each arm needs: `control` at the baseline rate, `policy` at the uplifted one."""

    control: int
    policy: int
    baseline_rate: float
    target_rate: float

    def as_dict(self) -> dict:
        return asdict(self)


def two_proportion_sample_size(
    *,
    baseline_rate: float,
    relative_uplift: float,
    control_share: float,
    alpha: float = 0.05,
    power: float = 0.8,
) -> SampleSize:
    """Sends per arm a two-sided two-proportion z-test needs to detect a relative uplift.

    The normal-approximation formula without continuity correction (Fleiss, Levin & Paik,
    *Statistical Methods for Rates and Proportions*, 3rd ed., 2003, ch. 4), for unequal
    groups as in Fleiss, Tytun & Ury (Biometrics 36, 1980). With p0 the control arm's rate,
    p1 = p0 * (1 + uplift), k = policy sends per control send and p = (p0 + k * p1) / (1 + k)
    the pooled rate:

        n_control = (z(1 - alpha/2) * sqrt(p (1 - p) (1 + 1/k))
                     + z(power) * sqrt(p0 (1 - p0) + p1 (1 - p1) / k))^2 / (p1 - p0)^2
        n_policy = k * n_control

    `control_share` is the share of decisions in the random control arm, so
    k = (1 - share) / share; both counts are rounded up. p1 is capped at 1.
    """
    if not 0 < baseline_rate < 1:
        raise ValueError(f"baseline_rate must be in (0, 1); got {baseline_rate}")
    if relative_uplift == 0:
        raise ValueError("relative_uplift must not be 0")
    if not 0 < control_share < 1:
        raise ValueError(f"control_share must be in (0, 1); got {control_share}")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must be in (0, 1); got {alpha}, {power}")
    p0 = baseline_rate
    p1 = min(1.0, max(0.0, p0 * (1 + relative_uplift)))
    k = (1 - control_share) / control_share
    pooled = (p0 + k * p1) / (1 + k)
    z_alpha = NormalDist().inv_cdf(1 - alpha / 2)
    z_power = NormalDist().inv_cdf(power)
    root = z_alpha * math.sqrt(pooled * (1 - pooled) * (1 + 1 / k)) + z_power * math.sqrt(
        p0 * (1 - p0) + p1 * (1 - p1) / k
    )
    n_control = root * root / ((p1 - p0) ** 2)
    # The float product can land a hair above a whole number; round that away before ceil.
    return SampleSize(
        control=math.ceil(round(n_control, 9)),
        policy=math.ceil(round(k * n_control, 9)),
        baseline_rate=p0,
        target_rate=p1,
    )


@dataclass(frozen=True)
class Difference:
    value_a: float
    value_b: float
    difference: float
    lower: float
    upper: float
    relative: float | None
    n: int
    effective_sample_size_a: float

    def as_dict(self) -> dict:
        return asdict(self)


def _snips(w: np.ndarray, r: np.ndarray) -> float:
    s = w.sum()
    return float(np.dot(w, r) / s) if s > 0 else float("nan")


def snips_difference(
    rewards: np.ndarray,
    propensities: np.ndarray,
    target_a: np.ndarray,
    target_b: np.ndarray,
    *,
    n_boot: int = 300,
    seed: int = 0,
) -> Difference:
    """SNIPS values of policies a and b (their probabilities of the *logged* actions) and a
    95% paired bootstrap interval of value_a - value_b."""
    r = np.asarray(rewards, dtype=np.float64)
    p = np.asarray(propensities, dtype=np.float64)
    wa = np.asarray(target_a, dtype=np.float64) / p
    wb = np.asarray(target_b, dtype=np.float64) / p
    va, vb = _snips(wa, r), _snips(wb, r)
    n = r.shape[0]
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    for k in range(n_boot):
        idx = rng.integers(0, n, n)
        diffs[k] = _snips(wa[idx], r[idx]) - _snips(wb[idx], r[idx])
    diffs = diffs[np.isfinite(diffs)]
    lo, hi = np.quantile(diffs, [0.025, 0.975]) if diffs.size else (np.nan, np.nan)
    ess = float(wa.sum() ** 2 / np.dot(wa, wa)) if np.dot(wa, wa) > 0 else 0.0
    return Difference(
        value_a=va,
        value_b=vb,
        difference=va - vb,
        lower=float(lo),
        upper=float(hi),
        relative=(va / vb - 1) if vb and math.isfinite(vb) and vb > 0 else None,
        n=n,
        effective_sample_size_a=ess,
    )


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean binary log-loss of probabilities `p` for outcomes `y` (0/1)."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-9, 1 - 1e-9)
    yy = np.asarray(y, dtype=np.float64)
    return float(-np.mean(yy * np.log(q) + (1 - yy) * np.log(1 - q))) if yy.size else float("nan")


def dr_terms(
    rewards: np.ndarray,
    actions: np.ndarray,
    propensities: np.ndarray,
    target: np.ndarray,
    reward_estimates: np.ndarray,
) -> np.ndarray:
    """Per-row doubly robust terms of a target policy (their mean is its value estimate):
    `sum_a T(a) Q(a) + T(logged) / p * (r - Q(logged))`."""
    idx = np.arange(rewards.shape[0])
    w = target[idx, actions] / propensities
    return np.sum(target * reward_estimates, axis=1) + w * (
        rewards - reward_estimates[idx, actions]
    )


def rejection_power(
    difference: dict, *, tolerance: float = 0.0, relative_drop: float = 0.10
) -> dict[str, float | None]:
    """How strong the promotion rule's test is, from a paired comparison (`Difference.as_dict`
    of candidate - live, with its 95% normal interval).

    The rule rejects a candidate when the interval's upper end lies below `-tolerance`. With the
    difference's standard error `se` (the interval's half-width / 1.96), a candidate whose true
    value is `drop` below the live model's is rejected with probability
    `Phi((drop - tolerance) / se - 1.96)`. Returned: `se`; `drop`, the `relative_drop` share of
    the live model's value; `power`, that probability for that drop; and `detectable_drop`,
    the drop the rule catches four times in five (`tolerance + (1.96 + 0.84) se`). Power and
    detectable drop are None where the interval is missing, unbounded or of zero width."""
    lower, upper, live = difference.get("lower"), difference.get("upper"), difference.get("value_b")
    se = None
    if lower is not None and upper is not None and math.isfinite(upper - lower):
        se = (upper - lower) / (2 * Z95)
    drop = relative_drop * live if live is not None and math.isfinite(live) else None
    power = detectable = None
    # se 0: the two policies agreed on every row, and the rows say nothing of a model that
    # would not; no power is claimed.
    if se is not None and se > 0:
        detectable = tolerance + (Z95 + Z80) * se
        if drop is not None:
            power = _NORMAL.cdf((drop - tolerance) / se - Z95)
    return {"se": se, "drop": drop, "relative_drop": relative_drop, "power": power,
            "detectable_drop": detectable}  # fmt: skip


def difference_text(d: dict | None) -> str:
    """A stored comparison as "difference [lower, upper]" (4 decimals), or "-"."""
    if not d or d.get("difference") is None:
        return "-"
    return f"{d['difference']:+.4f} [{d['lower']:+.4f}, {d['upper']:+.4f}]"


def promotion_power_text(metrics: dict | None) -> str:
    """The promotion test's power against the live model (`metrics.vs_live.test`): "23% for a
    10% drop; 80% at 0.0071", "none: ..." when the two models chose alike on every row, "not
    compared yet: ..." while too few held-out rows are newer than the live model's training
    data, or "-" without a comparison."""
    vs_live = (metrics or {}).get("vs_live") or {}
    if vs_live and vs_live.get("difference") is None and vs_live.get("n") is not None:
        return f"not compared yet: {vs_live['n']:,} unseen held-out rows"
    test = vs_live.get("test") or {}
    if test.get("se") == 0:
        return "none: the models chose alike on every row"
    if test.get("power") is None:
        return "-"
    return (
        f"{test['power']:.0%} for a {test['relative_drop']:.0%} drop; "
        f"80% at {test['detectable_drop']:.4f}"
    )


def paired_difference(terms_a: np.ndarray, terms_b: np.ndarray) -> Difference:
    """Values of two policies from per-row terms on the same rows, with a 95% normal interval
    of their difference (the paired rows cancel most of the noise)."""
    n = terms_a.shape[0]
    va, vb = float(terms_a.mean()), float(terms_b.mean())
    d = terms_a - terms_b
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else float("inf")
    return Difference(
        value_a=va,
        value_b=vb,
        difference=va - vb,
        lower=va - vb - Z95 * se,
        upper=va - vb + Z95 * se,
        relative=(va / vb - 1) if vb > 0 else None,
        n=n,
        effective_sample_size_a=float(n),
    )
