"""The reward model: its data layout, parameter shapes, prior, MAP fit and posterior.

``logit r(x, a) = b0 + f_a.c + b_a + x.v + x.W f_a + x.u_a`` over standardised contexts
``x`` and action features ``f_a`` (see the package docstring). Rows are grouped by action
(`_Data`), parameters live in one flat vector (`_Shapes`), and the fit is L-BFGS on the
weighted likelihood times a Gaussian prior (`_fit_map`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import optimize
from scipy.special import expit

from recommender.learning.config import LearnerConfig

# Rows with |logit| beyond this are numerically saturated; keeps exp() finite.
_LOGIT_CAP = 30.0


def _as_2d_float(X: object, name: str) -> np.ndarray:
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n, d); got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


@dataclass
class _Data:
    """Training rows sorted by action, in the representation the objective needs."""

    Xs: np.ndarray  # (n, d) standardised context, rows grouped by action
    y: np.ndarray  # (n,) rewards scaled to [0, 1]
    w: np.ndarray  # (n,) row weights
    bounds: np.ndarray  # (A + 1,) row offsets of each action's slice
    counts: np.ndarray  # (A,) rows per action
    prop: np.ndarray  # (n,) logging propensities

    @cached_property
    def row_action(self) -> np.ndarray:
        """(n,) the action of each row (the rows are grouped by action)."""
        return np.repeat(np.arange(self.counts.shape[0]), self.counts)

    def blocks(self) -> list[tuple[int, int, int]]:
        """(action, lo, hi) row blocks small enough to stay in cache between two passes."""
        size = max(256, 400_000 // max(1, self.Xs.shape[1]))
        out = []
        for a in range(self.bounds.shape[0] - 1):
            for lo in range(int(self.bounds[a]), int(self.bounds[a + 1]), size):
                out.append((a, lo, min(lo + size, int(self.bounds[a + 1]))))
        return out


@dataclass
class _Shapes:
    """Layout of the flat parameter vector; ``u_cols`` are the actions with their own weights."""

    d: int
    k: int
    A: int
    u_cols: np.ndarray

    @property
    def size(self) -> int:
        return 1 + self.k + self.A + self.d + self.d * self.k + self.d * self.u_cols.size

    def unpack(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        d, k, A = self.d, self.k, self.A
        out = {}
        pos = 0
        for name, shape in (
            ("b0", (1,)),
            ("c", (k,)),
            ("b", (A,)),
            ("v", (d,)),
            ("W", (d, k)),
            ("U", (d, self.u_cols.size)),
        ):
            size = int(np.prod(shape))
            out[name] = theta[pos : pos + size].reshape(shape)
            pos += size
        return out

    def full_U(self, U: np.ndarray, fill: float | np.ndarray = 0.0) -> np.ndarray:
        """(d, A) per-action weights, ``fill`` (a scalar or one value per context column) for
        actions without their own weights."""
        out = np.empty((self.d, self.A))
        out[:] = np.reshape(fill, (-1, 1)) if np.ndim(fill) else fill
        out[:, self.u_cols] = U
        return out


def _relayout(
    theta: np.ndarray, shapes: _Shapes, new: _Shapes, keep: np.ndarray | None = None
) -> np.ndarray:
    """A flat parameter (or precision) vector of ``shapes`` laid out as ``new``: with only the
    context columns ``keep``, or (``keep`` None) with ``new``'s extra context columns appended,
    their coefficients zero."""
    p = shapes.unpack(theta)
    out = np.zeros(new.size)
    q = new.unpack(out)
    for name in ("b0", "c", "b"):
        q[name][:] = p[name]
    for name in ("v", "W", "U"):
        if keep is None:
            q[name][: shapes.d] = p[name]
        else:
            q[name][:] = p[name][keep]
    return out


def _effective(
    p: dict[str, np.ndarray], F: np.ndarray, shapes: _Shapes
) -> tuple[np.ndarray, np.ndarray]:
    """Per-action intercepts (A,) and context weights (A, d): logit = const_a + x.beta_a.

    The model is linear in x for a fixed action, so the shared interactions fold into one
    weight vector per action, beta_a = v + W f_a + u_a, and a pass over the rows costs one
    matrix-vector product per action block whatever the number of action features.
    """
    const = p["b0"][0] + p["b"] + (F @ p["c"] if F.shape[1] else 0.0)
    beta = np.repeat(p["v"][:, None], shapes.A, axis=1)
    beta[:, shapes.u_cols] += p["U"]
    if F.shape[1]:
        beta = beta + p["W"] @ F.T
    return const, np.ascontiguousarray(beta.T)


def _logits_train(p: dict[str, np.ndarray], F: np.ndarray, D: _Data, shapes: _Shapes) -> np.ndarray:
    """Logit of every training row under parameters ``p``."""
    const, beta = _effective(p, F, shapes)
    return np.clip(_linear_part(D, D.blocks(), const, beta), -_LOGIT_CAP, _LOGIT_CAP)


def _linear_part(
    D: _Data, blocks: list[tuple[int, int, int]], const: np.ndarray, beta: np.ndarray
) -> np.ndarray:
    """(n,) float64 ``x.beta_a + const_a`` of every row, unclipped.

    Only the products run block by block (one matrix-vector product per action block); the
    intercepts are added to the whole vector at once: with hundreds of actions of a few dozen
    rows each, a pass was mostly the per-block calls, not arithmetic."""
    beta = beta.astype(D.Xs.dtype, copy=False)
    xb = np.empty(D.y.shape[0], dtype=D.Xs.dtype)
    for a, lo, hi in blocks:
        np.matmul(D.Xs[lo:hi], beta[a], out=xb[lo:hi])
    return xb + const[D.row_action]


def _fit_map(
    D: _Data,
    F: np.ndarray,
    shapes: _Shapes,
    prec: np.ndarray,
    theta0: np.ndarray,
    max_iter: int,
    ftol: float = 1e-9,
) -> np.ndarray:
    """MAP estimate of the logistic reward model (weighted likelihood x Gaussian prior).

    ``ftol`` is L-BFGS's relative-improvement stop; the search uses a looser one.
    """
    blocks = D.blocks()
    # Diagonal (Jacobi) preconditioning: L-BFGS works on z = theta / scale, with scale the
    # inverse square root of the Hessian's diagonal (likelihood + prior) at the start. The
    # blocks' curvatures differ by orders of magnitude (a tight prior on thousands of
    # interactions next to a nearly free intercept and weakly identified per-action effects);
    # unpreconditioned, the fit stopped far from the optimum within its iteration budget, so
    # the order of close actions depended on the starting point and on max_iter.
    scale = np.sqrt(_posterior_variance(D, F, shapes, prec, theta0))

    def fun_z(z: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad = _objective(scale * z, D, F, shapes, prec, blocks)
        return loss, grad * scale

    res = optimize.minimize(
        fun_z,
        theta0 / scale,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "maxcor": 10, "gtol": 1e-6, "ftol": ftol},
    )
    return np.asarray(res.x * scale, dtype=np.float64)


def _objective(
    theta: np.ndarray,
    D: _Data,
    F: np.ndarray,
    shapes: _Shapes,
    prec: np.ndarray,
    blocks: list[tuple[int, int, int]],
) -> tuple[float, np.ndarray]:
    """Negative log posterior (up to a constant) and its gradient at ``theta``."""
    p = shapes.unpack(theta)
    const, beta = _effective(p, F, shapes)
    loss, g_beta, ra = _likelihood_pass(D, blocks, const, beta.astype(D.Xs.dtype))
    grad = np.empty_like(theta)
    g = shapes.unpack(grad)
    g["b0"][0] = ra.sum()
    g["b"][:] = ra
    g["U"][:] = g_beta.T[:, shapes.u_cols]
    g["v"][:] = g_beta.sum(axis=0)
    if shapes.k:
        g["c"][:] = F.T @ ra
        g["W"][:] = g_beta.T @ F
    loss += 0.5 * float(np.dot(prec * theta, theta))
    grad += prec * theta
    return loss, grad


def _likelihood_pass(
    D: _Data, blocks: list[tuple[int, int, int]], const: np.ndarray, beta: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted negative log-likelihood, its gradient in each action's effective weights
    (A, d) and in each action's intercept (A,).

    The elementwise work (logits' cap, losses, residuals) runs on every row at once; the sums
    stay per block, in block order, so the result is the same to the last bit as summing
    block by block."""
    A, d = beta.shape
    g_beta = np.zeros((A, d))
    ra = np.zeros(A)
    eta = np.clip(_linear_part(D, blocks, const, beta), -_LOGIT_CAP, _LOGIT_CAP)
    # Bernoulli log-likelihood with fractional targets: softplus(eta) - y * eta.
    nll = np.logaddexp(0.0, eta) - D.y * eta
    resid = D.w * (expit(eta) - D.y)
    resid_x = resid.astype(D.Xs.dtype, copy=False)
    w, Xs, add, dot = D.w, D.Xs, np.add.reduce, np.dot
    loss = 0.0
    for a, lo, hi in blocks:
        loss += float(dot(w[lo:hi], nll[lo:hi]))
        ra[a] += add(resid[lo:hi])
        g_beta[a] += resid_x[lo:hi] @ Xs[lo:hi]
    return loss, g_beta, ra


def _posterior_variance(
    D: _Data, F: np.ndarray, shapes: _Shapes, prec: np.ndarray, theta: np.ndarray
) -> np.ndarray:
    """Diagonal Laplace approximation of the posterior variance of every parameter."""
    return _curvature(D, F, shapes, prec, theta)[0]


def _curvature(
    D: _Data, F: np.ndarray, shapes: _Shapes, prec: np.ndarray, theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The diagonal Laplace variances of every parameter, and each action's own information
    about its effective weights: the Hessian diagonals (D, A) and (A,) of ``beta_a`` and of
    ``const_a`` from that action's rows alone (see `Policy` for their use)."""
    A = shapes.A
    p = shapes.unpack(theta)
    mu = expit(_logits_train(p, F, D, shapes))
    s = D.w * mu * (1.0 - mu)
    h = np.zeros_like(theta)
    H = shapes.unpack(h)
    sx2 = np.zeros((A, shapes.d))  # per action: sum of s * x^2
    sa = np.zeros(A)
    for a, lo, hi in D.blocks():
        Xb = D.Xs[lo:hi].astype(np.float64)
        sx2[a] += s[lo:hi] @ (Xb * Xb)
        sa[a] += s[lo:hi].sum()
    H["b0"][0] = sa.sum()
    H["b"][:] = sa
    H["U"][:] = sx2.T[:, shapes.u_cols]
    H["v"][:] = sx2.sum(axis=0)
    if shapes.k:
        H["c"][:] = (F**2).T @ sa
        H["W"][:] = sx2.T @ F**2
    return 1.0 / (h + prec), sx2.T.copy(), sa


@dataclass(frozen=True)
class _Columns:
    """What the prior needs to know about the context columns: which are raw and which are
    step columns of the nonlinear basis (`basis.ContextBasis`), and how many of each vary.

    A block's prior scale is the sd of its total effect on a logit for a typical context, so it
    is shared out over the columns: each varying raw column gets ``1 / d_eff`` of the variance,
    and each step column ``nonlinear**2 / (d_eff * steps)``, with ``steps`` the number of step
    columns of its raw column: ``nonlinear`` = 1 lets a feature's nonlinear part vary as much as
    its linear part, 0 is the linear model.
    """

    raw: np.ndarray  # (D,) bool: a raw context column (else a step column)
    steps: np.ndarray  # (D,) step columns of the same raw column (1 for raw columns)
    d_eff: float  # varying raw columns

    def variance(self, nonlinear: float) -> np.ndarray:
        """(D,) prior variance share of each column's coefficient."""
        d = max(self.d_eff, 1.0)
        share = np.where(self.raw, 1.0 / d, nonlinear**2 / (d * np.maximum(self.steps, 1)))
        return np.maximum(share, 1e-10)


def _columns(d: int, step_cols: np.ndarray, varying: np.ndarray) -> _Columns:
    """`_Columns` of ``[X (d columns), steps of step_cols]`` with ``varying`` (d + m,)."""
    steps = np.ones(d + step_cols.size)
    if step_cols.size:
        steps[d:] = np.bincount(step_cols, minlength=d)[step_cols]
    raw = np.arange(d + step_cols.size) < d
    return _Columns(raw=raw, steps=steps, d_eff=float(varying[:d].sum()))


def _prior_precision(
    shapes: _Shapes,
    cfg: LearnerConfig,
    scales: tuple[float, float, float, float],
    cols: _Columns,
) -> np.ndarray:
    """Per-parameter prior precision from the (shared, per-action, intercept, nonlinear) scales.

    Scales are prior sds of a block's total effect on a logit (see LearnerConfig and
    `_Columns`).
    """
    tau_shared, tau_per_action, tau_intercept, nonlinear = scales
    cv = cols.variance(nonlinear)
    prec = np.empty(shapes.size)
    P = shapes.unpack(prec)
    P["b0"][:] = 1e-6
    k = max(shapes.k, 1)
    P["c"][:] = 1.0 / (cfg.prior_action_feature**2 / k)
    P["b"][:] = 1.0 / tau_intercept**2
    P["v"][:] = 1.0 / (cfg.prior_context**2 * cv)
    P["W"][:] = 1.0 / (tau_shared**2 * cv[:, None] / k)
    P["U"][:] = 1.0 / (tau_per_action**2 * _per_action_variance(cv, cols, shapes)[:, None])
    return prec


def _per_action_variance(cv: np.ndarray, cols: _Columns, shapes: _Shapes) -> np.ndarray:
    """Column variance shares of the per-action weights ``u_a``.

    With action features the step columns get none: the nonlinear part of the context is
    learned through the shared interactions (a threshold of age for SMS, of the emotional score
    for the empathetic tone), which transfer to every action with those features; per-action
    step functions would add a few hundred noisy parameters per action that the held-out loss
    cannot tell from the shared ones. Without action features they are the whole context model.
    """
    if not shapes.k:
        return cv
    return np.where(cols.raw, cv, 1e-10)


def _importance_weights(
    prop_sorted: np.ndarray,
    bounds: np.ndarray,
    clip: float,
    power: float,
) -> np.ndarray:
    """Inverse-propensity weights, clipped and normalised to each action's effective size.

    Within an action the weights make the contexts look like the whole population (what the
    logging policy's preferences distorted); across actions each keeps the weight its data
    deserve (its effective sample size), so a rarely logged action with a few huge weights is
    not trusted as if it had been logged everywhere.
    """
    n = prop_sorted.shape[0]
    w = np.ones(n)
    if power == 0:
        return w
    raw = prop_sorted**-power
    for a in range(bounds.shape[0] - 1):
        lo, hi = bounds[a], bounds[a + 1]
        if hi <= lo:
            continue
        seg = raw[lo:hi]
        seg = np.minimum(seg, clip * np.median(seg))
        ess = seg.sum() ** 2 / np.dot(seg, seg)
        w[lo:hi] = seg * (ess / seg.sum())
    return w


def _standardise(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column means, scales (1 for constant columns) and which columns vary at all."""
    if not X.shape[0]:
        return np.zeros(X.shape[1]), np.ones(X.shape[1]), np.zeros(X.shape[1], dtype=bool)
    std = X.std(axis=0)  # once: on wide logs a pass costs seconds (callers reuse `varying`)
    varying = std > 1e-12
    return X.mean(axis=0), np.where(varying, std, 1.0), varying


def _build_data(
    Xs: np.ndarray,
    actions: np.ndarray,
    y: np.ndarray,
    prop: np.ndarray,
    n_actions: int,
    cfg: LearnerConfig,
    power: float,
) -> _Data:
    order = np.argsort(actions, kind="stable")
    a_sorted = actions[order]
    counts = np.bincount(a_sorted, minlength=n_actions)
    bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    w = _importance_weights(prop[order], bounds, cfg.weight_clip, power)
    return _Data(
        Xs=np.ascontiguousarray(Xs[order]),
        y=y[order],
        w=w,
        bounds=bounds,
        counts=counts,
        prop=prop[order],
    )


def _validation_losses(
    theta: np.ndarray, shapes: _Shapes, F: np.ndarray, D: _Data, clip: float
) -> np.ndarray:
    """Per-row inverse-propensity-weighted log-loss on held-out rows (mean = the criterion).

    Weighting every row by 1 / propensity (clipped, normalised to mean 1) scores the model on
    all actions for the whole population, as if the held-out rows had been logged uniformly.
    """
    eta = _logits_train(shapes.unpack(theta), F, D, shapes)
    w = 1.0 / D.prop
    w = np.minimum(w, clip * np.median(w))
    return w / w.mean() * (np.logaddexp(0.0, eta) - D.y * eta)
