"""Off-policy value estimates with 95% intervals: `snips_value` and `dr_value`.

For model promotion and uplift reports (`recommender.evaluation` builds on them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_Z95 = 1.959963984540054


@dataclass(frozen=True)
class OffPolicyEstimate:
    """An off-policy value estimate with a 95% normal-approximation interval."""

    value: float
    lower: float
    upper: float
    #: Effective sample size of the importance weights (n for on-policy data).
    effective_sample_size: float
    n: int


def snips_value(
    rewards: object, propensities: object, target_probabilities: object
) -> OffPolicyEstimate:
    """Self-normalised IPS estimate of a target policy's value from logs, with a 95% interval.

    Args:
        rewards: observed reward of each logged row.
        propensities: logging probability of each logged action, in (0, 1].
        target_probabilities: the target policy's probability of the *logged* action, in [0, 1]
            (e.g. ``policy.probabilities(X)[np.arange(n), actions]``).

    The interval is the delta-method normal approximation for a ratio estimator.
    """
    r = np.asarray(rewards, dtype=np.float64)
    p = np.asarray(propensities, dtype=np.float64)
    t = np.asarray(target_probabilities, dtype=np.float64)
    if not (r.ndim == p.ndim == t.ndim == 1 and r.shape == p.shape == t.shape):
        raise ValueError("rewards, propensities and target_probabilities must be 1-D, same length")
    n = r.shape[0]
    if n == 0:
        raise ValueError("no rows to estimate from")
    if not (np.all(p > 0) and np.all(p <= 1)):
        raise ValueError("propensities must be in (0, 1]")
    if not (np.all(t >= 0) and np.all(t <= 1)):
        raise ValueError("target_probabilities must be in [0, 1]")
    w = t / p
    sw = w.sum()
    if sw <= 0:
        return OffPolicyEstimate(float("nan"), float("nan"), float("nan"), 0.0, n)
    value = float(np.dot(w, r) / sw)
    se = float(np.sqrt(np.sum((w * (r - value)) ** 2)) / sw)
    ess = float(sw**2 / np.dot(w, w))
    return OffPolicyEstimate(value, value - _Z95 * se, value + _Z95 * se, ess, n)


def dr_value(
    rewards: object,
    actions: object,
    propensities: object,
    target_probabilities: object,
    reward_estimates: object,
) -> OffPolicyEstimate:
    """Doubly robust estimate of a target policy's value from logs, with a 95% interval.

    Args:
        rewards: observed reward of each logged row, shape (n,).
        actions: logged action of each row, shape (n,).
        propensities: logging probability of each logged action, in (0, 1].
        target_probabilities: the target policy's full probabilities, shape (n, n_actions).
        reward_estimates: a reward model's estimates for every action, shape (n, n_actions)
            (e.g. ``policy.expected_rewards(X)`` of a model fitted on *other* rows).
    """
    r = np.asarray(rewards, dtype=np.float64)
    a = np.asarray(actions).astype(np.int64)
    p = np.asarray(propensities, dtype=np.float64)
    T = np.asarray(target_probabilities, dtype=np.float64)
    Q = np.asarray(reward_estimates, dtype=np.float64)
    n = r.shape[0]
    if n == 0:
        raise ValueError("no rows to estimate from")
    if a.shape != (n,) or p.shape != (n,) or T.ndim != 2 or T.shape[0] != n or Q.shape != T.shape:
        raise ValueError("dr_value: inconsistent shapes")
    if not (np.all(p > 0) and np.all(p <= 1)):
        raise ValueError("propensities must be in (0, 1]")
    if a.min() < 0 or a.max() >= T.shape[1]:
        raise ValueError("actions out of range")
    idx = np.arange(n)
    w = T[idx, a] / p
    terms = np.sum(T * Q, axis=1) + w * (r - Q[idx, a])
    value = float(terms.mean())
    se = float(terms.std(ddof=1) / math.sqrt(n)) if n > 1 else float("inf")
    ess = float(w.sum() ** 2 / np.dot(w, w)) if np.dot(w, w) > 0 else 0.0
    return OffPolicyEstimate(value, value - _Z95 * se, value + _Z95 * se, ess, n)
