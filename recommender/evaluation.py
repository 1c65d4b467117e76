"""Statistics for the uplift report and model promotion (Django-free, plain numpy).

- `wilson`: a binomial rate with its 95% Wilson score interval.
- `relative_uplift`: treatment rate / control rate - 1 with a 95% interval from the delta
  method on the log of the rate ratio (Katz), which stays inside (-1, inf).
- `snips_difference`: the self-normalised IPS value of two target policies on the same logs
  and a paired bootstrap interval of their difference.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

Z95 = 1.959963984540054


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
