"""`fit_policy`: bandit logs in, a `Policy` out."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from recommender.learning.config import LearnerConfig, _single_threaded_blas
from recommender.learning.model import (
    _as_2d_float,
    _build_data,
    _fit_map,
    _posterior_variance,
    _prior_precision,
    _Shapes,
    _standardise,
)
from recommender.learning.policy import FORMAT_VERSION, Policy
from recommender.learning.selection import _select_priors


def _validate_logs(
    X: object,
    actions: object,
    rewards: object,
    propensities: object,
    n_actions: int,
    action_features: object | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    if isinstance(n_actions, bool) or not isinstance(n_actions, int | np.integer):
        raise ValueError(f"n_actions must be a positive integer; got {n_actions!r}")
    if n_actions < 1:
        raise ValueError(f"n_actions must be >= 1; got {n_actions}")
    Xa = _as_2d_float(X, "X")
    n = Xa.shape[0]
    act = np.asarray(actions)
    if act.ndim != 1 or act.shape[0] != n:
        raise ValueError(f"actions must have shape ({n},) to match X; got {act.shape}")
    if (
        n
        and not np.issubdtype(act.dtype, np.integer)
        and (not np.issubdtype(act.dtype, np.floating) or not np.all(act == np.round(act)))
    ):
        raise ValueError(f"actions must be integers; got dtype {act.dtype}")
    act = act.astype(np.int64)
    if n and (act.min() < 0 or act.max() >= n_actions):
        raise ValueError(
            f"actions must be in [0, n_actions={n_actions}); got values in "
            f"[{act.min()}, {act.max()}]"
        )
    rew = np.asarray(rewards, dtype=np.float64)
    if rew.ndim != 1 or rew.shape[0] != n:
        raise ValueError(f"rewards must have shape ({n},) to match X; got {rew.shape}")
    if not np.all(np.isfinite(rew)):
        raise ValueError("rewards contain NaN or infinite values")
    if n and rew.min() < 0:
        raise ValueError(f"rewards must be >= 0; got a minimum of {rew.min()}")
    prop = np.asarray(propensities, dtype=np.float64)
    if prop.ndim != 1 or prop.shape[0] != n:
        raise ValueError(f"propensities must have shape ({n},) to match X; got {prop.shape}")
    if n and not (np.all(np.isfinite(prop)) and prop.min() > 0 and prop.max() <= 1):
        bad = prop[~(np.isfinite(prop) & (prop > 0) & (prop <= 1))]
        raise ValueError(
            "propensities must be in (0, 1] (the logging policy's probability of the logged "
            f"action); {bad.size} value(s) are not, e.g. {bad[0]!r}"
        )
    feats = None
    if action_features is not None:
        feats = _as_2d_float(action_features, "action_features")
        if feats.shape[0] != n_actions:
            raise ValueError(
                f"action_features must have shape (n_actions={n_actions}, k); got {feats.shape}"
            )
    return Xa, act, rew, prop, feats


def fit_policy(
    X: object,
    actions: object,
    rewards: object,
    propensities: object,
    *,
    n_actions: int,
    action_features: object | None = None,
    random_state: int = 0,
    config: LearnerConfig | None = None,
) -> Policy:
    """Fit a policy from bandit logs.

    Args:
        X: contexts, float array (n, d).
        actions: logged action of each row, ints in [0, n_actions).
        rewards: observed reward of each row, floats >= 0 (1/0 for a conversion). Rewards above
            1 are divided by their maximum for the fit and reported back in their own units.
        propensities: the logging policy's probability of the logged action, in (0, 1].
        n_actions: number of actions.
        action_features: optional float array (n_actions, k) describing each action (one-hot
            tone, CTA, channel, send-hour bucket...), which lets what is learned transfer to
            actions with few or no logs.
        random_state: seeds the held-out split and the Thompson draws; the same
            inputs and seed give the same policy.
        config: optional :class:`LearnerConfig`; the defaults need no tuning.

    Returns:
        A :class:`Policy`. With no rows, or rewards that are all equal, nothing distinguishes
        the actions: the exploit policy is uniform over eligible actions and exploration follows
        the prior.

    Raises:
        ValueError: on wrong shapes, non-finite values, actions out of range, negative rewards
            or propensities outside (0, 1].
    """
    cfg = config or LearnerConfig()
    Xa, act, rew, prop, feats = _validate_logs(
        X, actions, rewards, propensities, n_actions, action_features
    )
    with _single_threaded_blas():
        return _fit(Xa, act, rew, prop, feats, int(n_actions), int(random_state), cfg)


def _fit(
    Xa: np.ndarray,
    act: np.ndarray,
    rew: np.ndarray,
    prop: np.ndarray,
    feats: np.ndarray | None,
    n_actions: int,
    random_state: int,
    cfg: LearnerConfig,
) -> Policy:
    """:func:`fit_policy` on validated inputs: design, posterior, then the policy's state."""
    n, d = Xa.shape
    A = n_actions
    rng = np.random.default_rng(random_state)
    F = _action_design(feats, A)
    x_mean, x_scale, x_varying = _standardise(Xa)
    dtype = np.float32 if n * d > 20_000_000 else np.float64
    Xs = ((Xa - x_mean) / x_scale).astype(dtype)
    # Per-action context weights only for actions with enough rows to estimate them; the
    # others rely on the shared part (and keep their prior uncertainty for exploration).
    counts = np.bincount(act, minlength=A) if n else np.zeros(A, dtype=np.int64)
    min_rows = cfg.min_rows_per_action_weights if F.shape[1] else 1  # without features: all
    shapes = _Shapes(d=d, k=F.shape[1], A=A, u_cols=np.flatnonzero(counts >= min_rows))
    d_eff = float(x_varying.sum())
    reward_scale = float(max(1.0, rew.max())) if n else 1.0
    post = _posterior(Xs, F, act, rew / reward_scale, prop, shapes, cfg, d_eff, rng)
    state = _policy_state(post, shapes, cfg, d_eff, rng, x_mean=x_mean, x_scale=x_scale, F=F)
    meta: dict[str, object] = {
        "format_version": FORMAT_VERSION,
        "n_actions": A,
        "n_features": d,
        "n_rows": n,
        "epsilon": float(cfg.epsilon),
        "reward_scale": reward_scale,
        "prior_shared": float(post.scales[0]),
        "prior_per_action": float(post.scales[1]),
        "prior_intercept": float(post.scales[2]),
        "propensity_power": float(post.power),
        "informative": bool(post.informative),
        "random_state": random_state,
        "config": asdict(cfg),
    }
    return Policy(state, meta)


def _action_design(feats: np.ndarray | None, A: int) -> np.ndarray:
    """Standardised action features (constant columns dropped); (A, 0) without features."""
    if feats is not None and feats.shape[1]:
        f_mean, f_scale, keep = _standardise(feats)
        return ((feats - f_mean) / f_scale)[:, keep]
    return np.zeros((A, 0))


@dataclass
class _Posterior:
    """The fitted parameters, their diagonal posterior variance and the chosen prior."""

    theta: np.ndarray
    var: np.ndarray
    scales: tuple[float, float, float]
    power: float
    informative: bool


def _posterior(
    Xs: np.ndarray,
    F: np.ndarray,
    act: np.ndarray,
    y: np.ndarray,
    prop: np.ndarray,
    shapes: _Shapes,
    cfg: LearnerConfig,
    d_eff: float,
    rng: np.random.Generator,
) -> _Posterior:
    """MAP parameters and Laplace variances, after choosing the prior when there are enough
    rows; the prior alone when the rewards do not tell the actions apart."""
    n = y.shape[0]
    informative = n > 0 and float(y.max() - y.min()) > 0
    scales = (cfg.default_shared, cfg.default_per_action, cfg.default_intercept)
    power = 1.0 if cfg.propensity_power is None else cfg.propensity_power
    if not informative:
        prec = _prior_precision(shapes, cfg, scales, d_eff)
        return _Posterior(np.zeros(shapes.size), 1.0 / prec, scales, power, False)
    base = float(np.clip(np.average(y), 1e-4, 1 - 1e-4))
    theta0 = np.zeros(shapes.size)
    theta0[0] = math.log(base / (1 - base))
    if n >= cfg.min_rows_for_selection:
        scales, power, theta0 = _select_priors(
            Xs, F, act, y, prop, shapes.A, cfg, shapes, d_eff, theta0, rng
        )
    D = _build_data(Xs, act, y, prop, shapes.A, cfg, power)
    prec = _prior_precision(shapes, cfg, scales, d_eff)
    theta = _fit_map(D, F, shapes, prec, theta0, cfg.max_iter)
    return _Posterior(theta, _posterior_variance(D, F, shapes, prec, theta), scales, power, True)


def _policy_state(
    post: _Posterior,
    shapes: _Shapes,
    cfg: LearnerConfig,
    d_eff: float,
    rng: np.random.Generator,
    *,
    x_mean: np.ndarray,
    x_scale: np.ndarray,
    F: np.ndarray,
) -> dict[str, np.ndarray]:
    """The arrays a `Policy` is made of: standardisation, means, exploration variances and
    the fixed Thompson draws."""
    var = post.var * cfg.posterior_scale**2
    prec_u = 1.0 / (post.scales[1] ** 2 / max(d_eff, 1.0))
    p = shapes.unpack(post.theta)
    pv = shapes.unpack(var)
    S = int(cfg.thompson_samples)
    z_shared = rng.standard_normal((S, shapes.k))
    z_action = rng.standard_normal((S, shapes.A))
    return {
        "x_mean": x_mean,
        "x_scale": x_scale,
        "action_design": F,
        "b0": p["b0"].copy(),
        "c": p["c"].copy(),
        "b": p["b"].copy(),
        "v": p["v"].copy(),
        "W": p["W"].copy(),
        "U": shapes.full_U(p["U"]),
        "var_c": pv["c"].copy(),
        "var_b": pv["b"].copy(),
        "var_W": pv["W"].copy(),
        "var_U": shapes.full_U(pv["U"], fill=float(1.0 / prec_u) * cfg.posterior_scale**2),
        "z_shared": z_shared,
        "z_action": z_action,
    }
