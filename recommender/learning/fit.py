"""`fit_policy`: bandit logs in, a `Policy` out."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from recommender.learning.basis import ContextBasis, basis_fit, basis_none, basis_scored
from recommender.learning.config import (
    LearnerConfig,
    _policy_epsilon,
    _single_threaded_blas,
    _thompson_scale,
)
from recommender.learning.model import (
    _as_2d_float,
    _build_data,
    _Columns,
    _columns,
    _curvature,
    _Data,
    _fit_map,
    _logits_train,
    _per_action_variance,
    _prior_precision,
    _relayout,
    _Shapes,
    _standardise,
)
from recommender.learning.policy import FORMAT_VERSION, Policy
from recommender.learning.selection import _family_choice, _family_rows, _select_priors


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
    if cfg.knot_placement not in ("score", "quantile"):
        raise ValueError(
            f'knot_placement must be "score" or "quantile"; got {cfg.knot_placement!r}'
        )
    Xa, act, rew, prop, feats = _validate_logs(
        X, actions, rewards, propensities, n_actions, action_features
    )
    with _single_threaded_blas():
        return _fit(Xa, act, rew, prop, feats, int(n_actions), int(random_state), cfg)


@dataclass
class _Model:
    """The model being fitted: its standardised context (with the step columns it keeps), the
    columns' standardisation, the parameter layout and the chosen prior."""

    Xs: np.ndarray
    x_mean: np.ndarray
    x_scale: np.ndarray
    shapes: _Shapes
    cols: _Columns
    basis: ContextBasis
    scales: tuple[float, float, float, float]
    power: float
    theta0: np.ndarray
    prec: np.ndarray | None = None  # set by the family choice; else from the scales
    family: str = "linear"
    gains: dict[str, tuple[float, float]] = field(default_factory=dict)


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
    """:func:`fit_policy` on validated inputs: the linear model and its prior search, the
    richer families, the final fit, then the policy's state."""
    n, d = Xa.shape
    A = n_actions
    rng = np.random.default_rng(random_state)
    F = _action_design(feats, A)
    Xs, x_mean, x_scale, x_varying = _design(Xa, basis_none())
    # Per-action context weights only for actions with enough rows to estimate them; the
    # others rely on the shared part (and keep their prior uncertainty for exploration).
    counts = np.bincount(act, minlength=A) if n else np.zeros(A, dtype=np.int64)
    min_rows = cfg.min_rows_per_action_weights if F.shape[1] else 1  # without features: all
    shapes = _Shapes(d=d, k=F.shape[1], A=A, u_cols=np.flatnonzero(counts >= min_rows))
    cols = _columns(d, basis_none().cols, x_varying)
    reward_scale = float(max(1.0, rew.max())) if n else 1.0
    y = rew / reward_scale
    scales, power, theta0, informative = _prior_choice(Xs, F, act, y, prop, shapes, cfg, cols, rng)
    model = _Model(Xs, x_mean, x_scale, shapes, cols, basis_none(), scales, power, theta0)
    if informative and F.shape[1] and cfg.relevance_iters and n >= cfg.min_rows_for_selection:
        model = _richer_family(model, Xa, F, act, y, prop, cfg, rng)
    m = model
    if informative:
        post = _final_fit(
            m.Xs, F, act, y, prop, m.shapes, cfg, m.cols, m.scales, m.power, m.theta0, m.prec
        )
    else:
        prec = _prior_precision(m.shapes, cfg, m.scales, m.cols)
        post = _Posterior(np.zeros(m.shapes.size), 1.0 / prec, m.scales, m.power, False)
    state = _policy_state(post, m.shapes, cfg, m.cols, rng, x_mean=m.x_mean, x_scale=m.x_scale, F=F)
    state["basis_cols"] = m.basis.cols.astype(np.float64)
    state["basis_knots"] = m.basis.knots
    meta = _meta(post, m, cfg, n_actions=A, n_features=d, n_rows=n, reward_scale=reward_scale)
    meta["random_state"] = random_state
    return Policy(state, meta)


def _meta(
    post: _Posterior,
    m: _Model,
    cfg: LearnerConfig,
    *,
    n_actions: int,
    n_features: int,
    n_rows: int,
    reward_scale: float,
) -> dict[str, object]:
    """The policy's metadata: sizes, the chosen prior and family, the exploration settings."""
    return {
        "format_version": FORMAT_VERSION,
        "n_actions": n_actions,
        "n_features": n_features,
        "n_rows": n_rows,
        "epsilon": _policy_epsilon(cfg),
        "thompson_scale": _thompson_scale(cfg),
        "reward_scale": reward_scale,
        "prior_shared": float(post.scales[0]),
        "prior_per_action": float(post.scales[1]),
        "prior_intercept": float(post.scales[2]),
        "prior_nonlinear": float(post.scales[3]),
        "step_columns": int(m.basis.size),
        # The model family chosen, and each richer family's held-out gain over the simpler one
        # (loss per row, standard error).
        "family": m.family,
        "family_gains": {k: [float(g), float(se)] for k, (g, se) in m.gains.items()},
        "propensity_power": float(post.power),
        "informative": bool(post.informative),
        "config": asdict(cfg),
    }


def _richer_family(
    model: _Model,
    Xa: np.ndarray,
    F: np.ndarray,
    act: np.ndarray,
    y: np.ndarray,
    prop: np.ndarray,
    cfg: LearnerConfig,
    rng: np.random.Generator,
) -> _Model:
    """The linear model, or a richer family if it wins on held-out rows: evidence-set
    interaction priors, then the context's step columns (`selection._family_choice`)."""
    d = Xa.shape[1]
    m = model
    tr, val = _family_rows(y.shape[0], d, cfg, rng)
    lin_data = {
        id(m.Xs): (
            _build_data(m.Xs[tr], act[tr], y[tr], prop[tr], m.shapes.A, cfg, m.power),
            _build_data(m.Xs[val], act[val], y[val], prop[val], m.shapes.A, cfg, 0.0),
        )
    }
    steps = _basis(Xa, cfg, rng, (Xa[tr], act[tr], lin_data[id(m.Xs)][0], m, F))
    if steps.size:  # the wider design may afford fewer training rows
        cap = max(1, cfg.grow_cells // (d + steps.size))
        if tr.size > cap:
            tr, lin_data = np.sort(rng.choice(tr, cap, replace=False)), {}
    nonlin = None
    if steps.size:
        Xn, n_mean, n_scale, n_varying = _design(Xa, steps)
        shapes_n = _Shapes(d=Xn.shape[1], k=m.shapes.k, A=m.shapes.A, u_cols=m.shapes.u_cols)
        cols_n = _columns(d, steps.cols, n_varying)
        nonlin = (Xn, shapes_n, cols_n, _relayout(m.theta0, m.shapes, shapes_n))
    choice = _family_choice(
        (m.Xs, m.shapes, m.cols, m.theta0), nonlin,
        F=F, act=act, y=y, prop=prop, cfg=cfg, scales=m.scales, power=m.power,
        step_cols=steps.cols, rows=(tr, val), data=lin_data,
    )  # fmt: skip
    m.family, m.gains = choice.family, choice.gains
    if choice.family == "relevance":
        m.prec, m.theta0 = choice.prec, choice.theta
    elif choice.family == "nonlinear":
        # Step columns whose interactions the evidence switched off are dropped: they change
        # no decision, and the final fit passes over every row.
        keep = _kept_columns(choice.prec, shapes_n, d, cfg)
        kept = keep[d:] - d
        m.shapes = _Shapes(d=keep.size, k=m.shapes.k, A=m.shapes.A, u_cols=m.shapes.u_cols)
        m.prec = _relayout(choice.prec, shapes_n, m.shapes, keep)
        m.theta0 = _relayout(choice.theta, shapes_n, m.shapes, keep)
        m.cols = _columns(d, steps.cols[kept], n_varying[keep])
        m.basis = ContextBasis(steps.cols[kept], steps.knots[kept])
        m.Xs = np.ascontiguousarray(Xn[:, keep]) if keep.size < Xn.shape[1] else Xn
        m.x_mean, m.x_scale = n_mean[keep], n_scale[keep]
        m.scales = (*m.scales[:3], cfg.nonlinear_scale)
    return m


def _kept_columns(prec: np.ndarray, shapes: _Shapes, d: int, cfg: LearnerConfig) -> np.ndarray:
    """Indices of the context columns to keep: every raw one, and the step columns whose
    interaction prior variance the evidence left above `prune_variance`."""
    W_var = 1.0 / shapes.unpack(prec)["W"][:, 0]
    keep = np.arange(shapes.d) < d
    keep |= W_var > cfg.prune_variance
    return np.flatnonzero(keep)


def _design(
    Xa: np.ndarray, basis: ContextBasis
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The standardised context with the basis's step columns (float32 when large), and the
    columns' means, scales and whether they vary.

    Built in row blocks straight into the output: on a million rows a float64 copy of the
    whole expanded context costs more time (and memory) than the fit's passes over it."""
    n, d = Xa.shape
    D = d + basis.size
    mean, scale, varying = (np.empty(D), np.ones(D), np.zeros(D, dtype=bool))
    mean[:d], scale[:d], varying[:d] = _standardise(Xa)
    block = max(1, 2_000_000 // max(D, 1))
    if basis.size:
        ones = np.zeros(basis.size)
        for lo in range(0, n, block):
            ones += (Xa[lo : lo + block, basis.cols] > basis.knots).sum(axis=0)
        share = ones / max(n, 1)
        mean[d:] = share
        varying[d:] = share * (1 - share) > 1e-12
        scale[d:] = np.where(varying[d:], np.sqrt(share * (1 - share)), 1.0)
    dtype = np.float32 if n * D > 20_000_000 else np.float64
    out = np.empty((n, D), dtype=dtype)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        out[lo:hi] = (basis.transform(Xa[lo:hi]) - mean) / scale
    return out, mean, scale, varying


def _basis(
    Xa: np.ndarray,
    cfg: LearnerConfig,
    rng: np.random.Generator,
    fitted: tuple[np.ndarray, np.ndarray, _Data, _Model, np.ndarray],
) -> ContextBasis:
    """The step columns to try; none when the nonlinear part is switched off or there are too
    few rows to choose it on held-out rows.

    ``fitted`` is (raw context, actions, `_Data`) of the family choice's training rows, the
    linear model and the action design: "score" placement puts the knots where that model's
    residuals on those rows say a step is missing."""
    if cfg.nonlinear_bins < 2 or Xa.shape[0] < cfg.min_rows_for_selection:
        return basis_none()
    if cfg.knot_placement == "score":
        return _scored_basis(*fitted, cfg)
    return basis_fit(
        Xa,
        n_bins=cfg.nonlinear_bins,
        min_share=cfg.nonlinear_min_share,
        sample_rows=cfg.nonlinear_sample_rows,
        rng=rng,
    )


def _scored_basis(
    X_tr: np.ndarray,
    act_tr: np.ndarray,
    D: _Data,
    m: _Model,
    F: np.ndarray,
    cfg: LearnerConfig,
) -> ContextBasis:
    """`basis.basis_scored` on the residuals of the linear model ``m`` (its warm start) on the
    rows of ``D`` (raw context ``X_tr``, actions ``act_tr``, in their original order)."""
    order = np.argsort(act_tr, kind="stable")  # `_build_data`'s order
    eta = _logits_train(m.shapes.unpack(m.theta0), F, D, m.shapes)
    p = 1.0 / (1.0 + np.exp(-eta))
    Fc = F - F.mean(axis=0)
    U, s, _ = np.linalg.svd(Fc, full_matrices=False)
    Q = U[:, s > 1e-8 * max(float(s.max(initial=0.0)), 1e-300)]
    # A pass per column: on wide contexts, fewer rows (every `step`-th, all actions kept).
    step = max(1, -(-order.size * X_tr.shape[1] // cfg.selection_cells))
    rows = slice(None, None, step)
    return basis_scored(
        X_tr[order][rows], act_tr[order][rows], (D.w * (D.y - p))[rows],
        (D.w * p * (1.0 - p))[rows], Q,
        candidates=cfg.knot_candidates, max_knots=cfg.max_knots,
        min_share=cfg.nonlinear_min_share, alpha=cfg.knot_alpha,
    )  # fmt: skip


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
    scales: tuple[float, float, float, float]  # shared, per-action, intercept, nonlinear
    power: float
    informative: bool
    #: Each action's own-rows information about its effective weights (D, A) and constant (A,).
    info_beta: np.ndarray | None = None
    info_const: np.ndarray | None = None


def _prior_choice(
    Xs: np.ndarray,
    F: np.ndarray,
    act: np.ndarray,
    y: np.ndarray,
    prop: np.ndarray,
    shapes: _Shapes,
    cfg: LearnerConfig,
    cols: _Columns,
    rng: np.random.Generator,
) -> tuple[tuple[float, float, float, float], float, np.ndarray, bool]:
    """The prior scales, the propensity power, a warm start for the final fit, and whether the
    rewards tell the actions apart at all (if not, the prior alone is the posterior).

    Chosen on held-out rows when there are enough rows; the configured defaults otherwise."""
    n = y.shape[0]
    informative = n > 0 and float(y.max() - y.min()) > 0
    scales = (
        cfg.default_shared,
        cfg.default_per_action,
        cfg.default_intercept,
        0.0,
    )
    power = 1.0 if cfg.propensity_power is None else cfg.propensity_power
    theta0 = np.zeros(shapes.size)
    if not informative:
        return scales, power, theta0, False
    base = float(np.clip(np.average(y), 1e-4, 1 - 1e-4))
    theta0[0] = math.log(base / (1 - base))
    if n >= cfg.min_rows_for_selection:
        scales, power, theta0 = _select_priors(
            Xs, F, act, y, prop, shapes.A, cfg, shapes, cols, theta0, rng
        )
    return scales, power, theta0, True


def _final_fit(
    Xs: np.ndarray,
    F: np.ndarray,
    act: np.ndarray,
    y: np.ndarray,
    prop: np.ndarray,
    shapes: _Shapes,
    cfg: LearnerConfig,
    cols: _Columns,
    scales: tuple[float, float, float, float],
    power: float,
    theta0: np.ndarray,
    prec: np.ndarray | None,
) -> _Posterior:
    """The MAP fit on every row with the chosen prior (``prec``, or the one the scales give),
    and its Laplace variances."""
    D = _build_data(Xs, act, y, prop, shapes.A, cfg, power)
    if prec is None:
        prec = _prior_precision(shapes, cfg, scales, cols)
    theta = _fit_map(D, F, shapes, prec, theta0, cfg.max_iter)
    var, info_beta, info_const = _curvature(D, F, shapes, prec, theta)
    return _Posterior(theta, var, scales, power, True, info_beta, info_const)


def _policy_state(
    post: _Posterior,
    shapes: _Shapes,
    cfg: LearnerConfig,
    cols: _Columns,
    rng: np.random.Generator,
    *,
    x_mean: np.ndarray,
    x_scale: np.ndarray,
    F: np.ndarray,
) -> dict[str, np.ndarray]:
    """The arrays a `Policy` is made of: standardisation, means, exploration variances and
    the fixed Thompson draws."""
    scale2 = _thompson_scale(cfg) ** 2
    var = post.var * scale2
    var_u = post.scales[1] ** 2 * _per_action_variance(cols.variance(post.scales[3]), cols, shapes)
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
        "var_U": shapes.full_U(pv["U"], fill=var_u * scale2),
        "z_shared": z_shared,
        "z_action": z_action,
        # Each action's score variance from its own rows alone bounds the posterior variance
        # (the prior and the other actions' rows only add information); the diagonal
        # approximation, summing independent variances of the shared and per-action parts,
        # exceeds it on well-logged actions. `Policy` caps the Thompson noise with it.
        "own_var_beta": _own_variance(post.info_beta, (shapes.d, shapes.A)) * scale2,
        "own_var_const": _own_variance(post.info_const, (shapes.A,)) * scale2,
    }


def _own_variance(info: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """1 / information, capped at 1e12 (no information: no bound)."""
    if info is None:
        return np.full(shape, 1e12)
    return 1.0 / np.maximum(info, 1e-12)
