"""Contextual-bandit learner for the recommender (Django-free core).

This module turns logged decisions (context, chosen action, observed reward, the logging
policy's probability of that action) into a :class:`Policy` that assigns probabilities to
actions for new contexts. Services in ``recommender.services`` load logs from the database,
call :func:`fit_policy`, persist :meth:`Policy.to_bytes`, and later call
:meth:`Policy.probabilities` when planning contacts. Nothing here knows about Django.

Public surface:

- :func:`fit_policy` -- fit a policy from logs (the public contract used by production, the
  simulator and offline evaluation).
- :class:`Policy` -- ``probabilities(X, eligible=..., explore=...)``,
  ``expected_rewards(X)``, ``to_bytes()`` / ``Policy.from_bytes(...)``.
- :class:`LearnerConfig` -- optional knobs; the defaults are the tuned ones.
- :func:`snips_value` and :func:`dr_value` -- off-policy value estimates with 95% intervals,
  for model promotion and uplift reports.

Method (see ``docs/recommender-learning.md``): a regularised logistic reward model

``logit r(x, a) = b0 + f_a.c + b_a + x.v + x.W f_a + x.u_a``

where ``x`` is the standardised context, ``f_a`` the standardised action features, ``W`` the
context x action-feature interactions that share strength across actions (and transfer to
actions with few or no logs), and ``b_a``, ``u_a`` per-action corrections shrunk towards the
shared part (``u_a`` only for actions with enough rows). Rows are weighted by
``propensity ** -power`` (clipped, normalised within each action to that action's effective
sample size), so the fit targets the population of contexts rather than the contexts the
logging policy happened to favour. The Gaussian prior scales and the power (0, 0.5 or 1) are
chosen by the inverse-propensity-weighted log-loss on held-out rows (3-fold for small logs),
after which the shared-interaction prior is loosened while the held-out loss stays within one
standard error (the policy needs the differences between actions, which the log-loss optimum
over-shrinks). ``explore=False`` is the argmax of the estimated reward over eligible actions
(ties split evenly); ``explore=True`` is Thompson sampling from a diagonal Laplace posterior,
computed as probabilities by Monte Carlo with fixed draws (deterministic given
``random_state``, and a row's probabilities do not depend on its batch), mixed with an epsilon
floor over the eligible actions.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import zipfile
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize
from scipy.special import expit

try:  # installed with scikit-learn (one of its hard dependencies)
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - then BLAS runs with its default threads
    threadpool_limits = None

__all__ = [
    "LearnerConfig",
    "OffPolicyEstimate",
    "Policy",
    "dr_value",
    "fit_policy",
    "snips_value",
]

FORMAT_VERSION = 1
_Z95 = 1.959963984540054
# Rows with |logit| beyond this are numerically saturated; keeps exp() finite.
_LOGIT_CAP = 30.0


@dataclass(frozen=True)
class LearnerConfig:
    """Knobs of :func:`fit_policy`. The defaults were tuned with ``bench/learner_offline.py``.

    Prior scales are standard deviations of a Gaussian prior, in logit units, of the *total*
    effect of a block on one action's score for a typical (standardised) context, so they do not
    depend on the number of features.
    """

    #: Prior sd of the action-feature main effects ``f_a.c`` (few parameters, many rows each).
    prior_action_feature: float = 3.0
    #: Prior sd of the context main effect ``x.v`` (does not change the argmax; helps the fit).
    prior_context: float = 2.0
    #: Candidate prior sds (log grid) of the shared interactions ``x.W f_a`` and of the
    #: per-action context weights ``x.u_a``; both are chosen on a held-out split.
    prior_grid: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
    #: Candidate prior sds of the per-action intercepts ``b_a``. The small values matter with
    #: hundreds of actions and a few conversions each: the per-action deviations from what the
    #: action features predict are then mostly noise, and a loose prior lets the argmax pick
    #: the luckiest action (the winner's curse).
    intercept_grid: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
    #: Order in which the (shared, per-action, intercept) scales and the propensity power (3)
    #: are searched.
    search_axes: tuple[int, ...] = (0, 1, 2, 3, 0)
    #: Inverse-propensity weights are clipped at this multiple of their median within an action.
    weight_clip: float = 20.0
    #: Rows are weighted by propensity ** -power (0 = plain direct method, 1 = full inverse
    #: propensity weighting). None = chosen from ``power_grid`` on the held-out split.
    propensity_power: float | None = None
    power_grid: tuple[float, ...] = (0.0, 0.5, 1.0)
    #: At most this many rows, and rows x features cells, are used to choose the prior scales
    #: (the final fit uses all rows).
    selection_rows: int = 40_000
    selection_cells: int = 20_000_000
    #: Below this many rows the prior scales are not searched; the defaults below are used.
    min_rows_for_selection: int = 100
    #: Share of the selection rows held out to score the candidates.
    validation_fraction: float = 0.25
    #: Logs with fewer selection rows than this (and under 4M cells) are scored by k-fold
    #: cross-validation.
    small_log_rows: int = 10_000
    small_log_folds: int = 3
    #: Defaults when there is no search (too few rows).
    default_shared: float = 0.5
    default_per_action: float = 0.3
    default_intercept: float = 1.0
    #: With action features, actions logged fewer times than this get no per-action context
    #: weights of their own (they use the shared part).
    min_rows_per_action_weights: int = 50
    #: L-BFGS iterations of the final fit and of each candidate fit during the search.
    max_iter: int = 250
    selection_max_iter: int = 150
    selection_ftol: float = 1e-9
    #: After the search, the interaction prior is loosened while the held-out loss stays within
    #: this many standard errors of the best (0 = plain argmin).
    loosen_se: float = 1.0
    #: Thompson draws used to turn the posterior into probabilities (explore=True).
    thompson_samples: int = 128
    #: Share of probability spread uniformly over eligible actions when exploring.
    epsilon: float = 0.05
    #: Multiplier on the posterior standard deviations when exploring (1 = plain Thompson).
    posterior_scale: float = 1.0


@dataclass(frozen=True)
class OffPolicyEstimate:
    """An off-policy value estimate with a 95% normal-approximation interval."""

    value: float
    lower: float
    upper: float
    #: Effective sample size of the importance weights (n for on-policy data).
    effective_sample_size: float
    n: int


def _single_threaded_blas() -> contextlib.AbstractContextManager[object]:
    """BLAS limited to one thread.

    The fit is a long run of small matrix-vector products, for which OpenBLAS threads cost far
    more than they save (measured: 3-10x slower with 2 threads on the 2-core machine).
    """
    if threadpool_limits is None:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


def _as_2d_float(X: object, name: str) -> np.ndarray:
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n, d); got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


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


# --------------------------------------------------------------------------------------------
# The reward model
# --------------------------------------------------------------------------------------------


@dataclass
class _Data:
    """Training rows sorted by action, in the representation the objective needs."""

    Xs: np.ndarray  # (n, d) standardised context, rows grouped by action
    y: np.ndarray  # (n,) rewards scaled to [0, 1]
    w: np.ndarray  # (n,) row weights
    bounds: np.ndarray  # (A + 1,) row offsets of each action's slice
    counts: np.ndarray  # (A,) rows per action
    prop: np.ndarray  # (n,) logging propensities

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

    def full_U(self, U: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """(d, A) per-action weights, ``fill`` for actions without their own weights."""
        out = np.full((self.d, self.A), fill)
        out[:, self.u_cols] = U
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
    beta = beta.astype(D.Xs.dtype)
    eta = np.empty(D.y.shape[0], dtype=np.float64)
    for a, lo, hi in D.blocks():
        eta[lo:hi] = D.Xs[lo:hi] @ beta[a] + const[a]
    return np.clip(eta, -_LOGIT_CAP, _LOGIT_CAP)


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
    k, A, d = shapes.k, shapes.A, shapes.d
    blocks = D.blocks()
    dtype = D.Xs.dtype

    def pass_blocks(const: np.ndarray, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        g_beta = np.zeros((A, d))
        ra = np.zeros(A)
        loss = 0.0
        # One fused pass: each block's logits, loss and gradient while it is in cache.
        for a, lo, hi in blocks:
            Xb = D.Xs[lo:hi]
            eta = np.clip(Xb @ beta[a] + const[a], -_LOGIT_CAP, _LOGIT_CAP).astype(np.float64)
            y, w = D.y[lo:hi], D.w[lo:hi]
            # Bernoulli log-likelihood with fractional targets: softplus(eta) - y * eta.
            loss += float(np.dot(w, np.logaddexp(0.0, eta) - y * eta))
            resid = w * (expit(eta) - y)
            ra[a] += resid.sum()
            g_beta[a] += resid.astype(dtype) @ Xb
        return loss, g_beta, ra

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        p = shapes.unpack(theta)
        const, beta = _effective(p, F, shapes)
        beta = beta.astype(dtype)
        loss, g_beta, ra = pass_blocks(const, beta)
        grad = np.empty_like(theta)
        g = shapes.unpack(grad)
        g["b0"][0] = ra.sum()
        g["b"][:] = ra
        g["U"][:] = g_beta.T[:, shapes.u_cols]
        g["v"][:] = g_beta.sum(axis=0)
        if k:
            g["c"][:] = F.T @ ra
            g["W"][:] = g_beta.T @ F
        loss += 0.5 * float(np.dot(prec * theta, theta))
        grad += prec * theta
        return loss, grad

    # Diagonal (Jacobi) preconditioning: L-BFGS works on z = theta / scale, with scale the
    # inverse square root of the Hessian's diagonal (likelihood + prior) at the start. The
    # blocks' curvatures differ by orders of magnitude (a tight prior on thousands of
    # interactions next to a nearly free intercept and weakly identified per-action effects);
    # unpreconditioned, the fit stopped far from the optimum within its iteration budget, so
    # the order of close actions depended on the starting point and on max_iter.
    scale = np.sqrt(_posterior_variance(D, F, shapes, prec, theta0))

    def fun_z(z: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad = fun(scale * z)
        return loss, grad * scale

    res = optimize.minimize(
        fun_z,
        theta0 / scale,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "maxcor": 10, "gtol": 1e-6, "ftol": ftol},
    )
    return np.asarray(res.x * scale, dtype=np.float64)


def _posterior_variance(
    D: _Data, F: np.ndarray, shapes: _Shapes, prec: np.ndarray, theta: np.ndarray
) -> np.ndarray:
    """Diagonal Laplace approximation of the posterior variance of every parameter."""
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
    return 1.0 / (h + prec)


def _prior_precision(
    shapes: _Shapes,
    cfg: LearnerConfig,
    scales: tuple[float, float, float],
    d_eff: float,
) -> np.ndarray:
    """Per-parameter prior precision from the (shared, per-action, intercept) block scales.

    Scales are prior sds of a block's total effect on a logit (see LearnerConfig).
    """
    tau_shared, tau_per_action, tau_intercept = scales
    prec = np.empty(shapes.size)
    P = shapes.unpack(prec)
    P["b0"][:] = 1e-6
    k = max(shapes.k, 1)
    P["c"][:] = 1.0 / (cfg.prior_action_feature**2 / k)
    P["b"][:] = 1.0 / tau_intercept**2
    P["v"][:] = 1.0 / (cfg.prior_context**2 / max(d_eff, 1.0))
    P["W"][:] = 1.0 / (tau_shared**2 / (max(d_eff, 1.0) * k))
    P["U"][:] = 1.0 / (tau_per_action**2 / max(d_eff, 1.0))
    return prec


# --------------------------------------------------------------------------------------------
# Policy
# --------------------------------------------------------------------------------------------


class Policy:
    """A fitted policy: estimated rewards, the exploit policy and the Thompson policy.

    Build one with :func:`fit_policy` or :meth:`from_bytes`. All state is plain numpy arrays
    (see :attr:`state`), so it can be persisted with :meth:`to_bytes` (an ``.npz`` archive in
    bytes, read back without pickle).
    """

    _ARRAYS = (
        "x_mean",
        "x_scale",
        "action_design",
        "b0",
        "c",
        "b",
        "v",
        "W",
        "U",
        "var_c",
        "var_b",
        "var_W",
        "var_U",
        "z_shared",
        "z_action",
    )

    def __init__(self, state: dict[str, np.ndarray], meta: dict[str, object]) -> None:
        missing = [name for name in self._ARRAYS if name not in state]
        if missing:
            raise ValueError(f"policy state is missing arrays: {missing}")
        self._s = {name: np.asarray(state[name], dtype=np.float64) for name in self._ARRAYS}
        # Round-trip through JSON so a fresh policy and a restored one carry the same meta.
        self.meta = json.loads(json.dumps(meta, sort_keys=True))
        self.n_actions = int(self.meta["n_actions"])
        self.n_features = int(self.meta["n_features"])
        self.epsilon = float(self.meta["epsilon"])
        self.reward_scale = float(self.meta["reward_scale"])

    # -- persistence -------------------------------------------------------------------------

    @property
    def state(self) -> dict[str, np.ndarray]:
        """Plain-data state: every array the policy needs (copies)."""
        return {name: arr.copy() for name, arr in self._s.items()}

    def to_bytes(self) -> bytes:
        """Serialise as a compressed ``.npz`` archive (arrays plus a JSON ``meta`` string)."""
        buf = io.BytesIO()
        meta = np.frombuffer(json.dumps(self.meta, sort_keys=True).encode(), dtype=np.uint8)
        np.savez_compressed(buf, __meta__=meta, **self._s)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Policy:
        """Inverse of :meth:`to_bytes`; never unpickles (``allow_pickle=False``)."""
        try:
            npz = np.load(io.BytesIO(data), allow_pickle=False)
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise ValueError(f"not a policy archive: {exc}") from exc
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("not a policy archive: a single array, not an .npz archive")
        with npz:
            if "__meta__" not in npz.files:
                raise ValueError("not a policy archive: no __meta__ entry")
            meta = json.loads(npz["__meta__"].tobytes().decode())
            if int(meta.get("format_version", -1)) != FORMAT_VERSION:
                raise ValueError(
                    f"unsupported policy format {meta.get('format_version')!r}; "
                    f"expected {FORMAT_VERSION}"
                )
            state = {name: npz[name] for name in cls._ARRAYS}
        return cls(state, meta)

    # -- scoring -----------------------------------------------------------------------------

    def _check_X(self, X: object) -> np.ndarray:
        Xa = _as_2d_float(X, "X")
        if Xa.shape[1] != self.n_features:
            raise ValueError(
                f"X has {Xa.shape[1]} features but the policy was fitted on {self.n_features}"
            )
        return Xa

    def _check_eligible(self, eligible: object | None, m: int) -> np.ndarray:
        if eligible is None:
            return np.ones((m, self.n_actions), dtype=bool)
        el = np.asarray(eligible)
        if el.shape != (m, self.n_actions):
            raise ValueError(f"eligible must have shape ({m}, {self.n_actions}); got {el.shape}")
        if el.dtype != bool:
            if not np.all((el == 0) | (el == 1)):
                raise ValueError("eligible must be boolean")
            el = el.astype(bool)
        empty = ~el.any(axis=1)
        if m and empty.any():
            rows = np.flatnonzero(empty)
            raise ValueError(
                f"{rows.size} row(s) have no eligible action (first: row {rows[0]}); "
                "drop them before asking the policy (there is nothing to choose)"
            )
        return el

    def _logits(self, X: np.ndarray) -> np.ndarray:
        """Estimated reward logits (m, A), without the context main effect (same argmax)."""
        s = self._s
        Xs = (X - s["x_mean"]) / s["x_scale"]
        G = s["action_design"]
        out = s["b0"][0] + s["b"] + (G @ s["c"] if G.shape[1] else 0.0) + Xs @ s["U"]
        if G.shape[1]:
            out = out + (Xs @ s["W"]) @ G.T
        return out

    def expected_rewards(self, X: object) -> np.ndarray:
        """Estimated expected reward of every action for each context, shape (m, n_actions).

        In the units of the training rewards. For explanations and reports; the policy only
        uses their order.
        """
        Xa = self._check_X(X)
        s = self._s
        Xs = (Xa - s["x_mean"]) / s["x_scale"]
        logits = self._logits(Xa) + (Xs @ s["v"])[:, None]
        return expit(logits) * self.reward_scale

    def probabilities(
        self, X: object, *, eligible: object | None = None, explore: bool = True
    ) -> np.ndarray:
        """Probability of choosing each action for each context, shape (m, n_actions).

        Rows are finite, non-negative and sum to 1, with exact zeros where ``eligible`` is
        False. ``explore=False`` is the argmax of the estimated reward among eligible actions
        (ties split evenly). ``explore=True`` is Thompson sampling from the posterior (Monte
        Carlo over fixed draws, so deterministic) mixed with ``epsilon`` spread over the
        eligible actions, so every eligible action has probability >= epsilon / #eligible.

        Raises ``ValueError`` for a row with no eligible action: there is nothing to choose,
        and silently returning something would hide a compliance bug upstream.
        """
        Xa = self._check_X(X)
        m = Xa.shape[0]
        el = self._check_eligible(eligible, m)
        if m == 0:
            return np.zeros((0, self.n_actions))
        if m * self.n_features < 100_000:  # small: no threads anyway, skip the limiter's cost
            return self._probabilities(Xa, el, explore)
        with _single_threaded_blas():
            return self._probabilities(Xa, el, explore)

    def _probabilities(self, Xa: np.ndarray, el: np.ndarray, explore: bool) -> np.ndarray:
        m = Xa.shape[0]
        logits = self._logits(Xa)
        if not explore:
            return _argmax_probabilities(logits, el)
        s = self._s
        Xs = (Xa - s["x_mean"]) / s["x_scale"]
        G = s["action_design"]
        # Score noise under the diagonal posterior, exactly: shared part F diag(q) F^T plus an
        # independent per-action part. The context main effect is common to all actions.
        sd_action = np.sqrt((Xs**2) @ s["var_U"] + s["var_b"])  # (m, A)
        if G.shape[1]:
            sd_shared = np.sqrt((Xs**2) @ s["var_W"] + s["var_c"])  # (m, k)
        z_sh, z_ac = s["z_shared"], s["z_action"]  # (S, k), (S, A)
        S, A, k = z_ac.shape[0], self.n_actions, G.shape[1]
        # Draws in float32 (the Monte Carlo error, ~1/sqrt(S), dwarfs its rounding; BLAS runs
        # 4x faster). When rows have few eligible actions (candidates are often a few dozen of
        # hundreds of actions), only those are drawn: gathered, eligible first, into (m, E)
        # with E the most eligible actions of a row, the padding masked out. An ineligible
        # action never wins, so both paths give the same probabilities.
        f32 = np.float32
        z_sh, z_ac, G32 = z_sh.astype(f32), z_ac.astype(f32), G.astype(f32)
        logits, sd_action = logits.astype(f32), sd_action.astype(f32)
        if k:
            sd_shared = sd_shared.astype(f32)
        E = max(1, int(el.sum(axis=1).max()))
        gather = 2 * E <= A
        if gather:
            order = np.argsort(~el, axis=1, kind="stable")[:, :E]  # (m, E) column indices
            ok = np.take_along_axis(el, order, axis=1)
        counts = np.zeros((m, A))
        chunk = max(1, 4_000_000 // max(1, S * (E if gather else A)))
        for lo in range(0, m, chunk):
            hi = min(m, lo + chunk)
            if gather:
                idx = order[lo:hi]
                mean = np.take_along_axis(logits[lo:hi], idx, axis=1)  # (rows, E)
                sd = np.take_along_axis(sd_action[lo:hi], idx, axis=1)
                noise = np.ascontiguousarray(z_ac.T[idx].transpose(0, 2, 1))  # (rows, S, E)
                draws = mean[:, None, :] + sd[:, None, :] * noise
                if k:
                    draws += np.matmul(
                        sd_shared[lo:hi, None, :] * z_sh[None, :, :],
                        np.ascontiguousarray(G32[idx].transpose(0, 2, 1)),
                    )
                mask = ok[lo:hi]
            else:
                draws = logits[lo:hi, None, :] + sd_action[lo:hi, None, :] * z_ac[None, :, :]
                if k:
                    shared = (sd_shared[lo:hi, None, :] * z_sh[None, :, :]).reshape(-1, k)
                    draws += (shared @ G32.T).reshape(hi - lo, S, A)
                mask = el[lo:hi]
            np.copyto(draws, -np.inf, where=~mask[:, None, :])
            best = draws.argmax(axis=2)  # (rows, S)
            if gather:
                best = np.take_along_axis(idx, best, axis=1)
            flat = (np.arange(hi - lo)[:, None] * A + best).ravel()
            counts[lo:hi] = np.bincount(flat, minlength=(hi - lo) * A).reshape(hi - lo, A)
        ts = counts / S
        n_el = el.sum(axis=1, keepdims=True)
        probs = (1.0 - self.epsilon) * ts + self.epsilon * el / n_el
        probs[~el] = 0.0
        return probs / probs.sum(axis=1, keepdims=True)


def _argmax_probabilities(scores: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Uniform over the eligible actions whose score ties the best one."""
    masked = np.where(eligible, scores, -np.inf)
    best = masked.max(axis=1, keepdims=True)
    tol = 1e-9 * np.maximum(1.0, np.abs(best))
    top = eligible & (masked >= best - tol)
    return top / top.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------


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
    """:func:`fit_policy` on validated inputs."""
    n, d = Xa.shape
    A = n_actions
    seed = random_state
    rng = np.random.default_rng(seed)

    # Action design: standardised action features (constant columns dropped).
    if feats is not None and feats.shape[1]:
        f_mean, f_scale, keep = _standardise(feats)
        F = ((feats - f_mean) / f_scale)[:, keep]
    else:
        F = np.zeros((A, 0))
    k = F.shape[1]

    x_mean, x_scale, x_varying = _standardise(Xa)
    dtype = np.float32 if n * d > 20_000_000 else np.float64
    Xs = ((Xa - x_mean) / x_scale).astype(dtype)
    # Per-action context weights only for actions with enough rows to estimate them; the
    # others rely on the shared part (and keep their prior uncertainty for exploration).
    counts = np.bincount(act, minlength=A) if n else np.zeros(A, dtype=np.int64)
    min_rows = cfg.min_rows_per_action_weights if k else 1  # without features, all we have
    u_cols = np.flatnonzero(counts >= min_rows)
    shapes = _Shapes(d=d, k=k, A=A, u_cols=u_cols)
    d_eff = float(x_varying.sum())

    reward_scale = float(max(1.0, rew.max())) if n else 1.0
    y = rew / reward_scale
    informative = n > 0 and float(y.max() - y.min()) > 0
    theta = np.zeros(shapes.size)
    chosen = (cfg.default_shared, cfg.default_per_action, cfg.default_intercept)
    power = 1.0 if cfg.propensity_power is None else cfg.propensity_power

    if informative:
        base = float(np.clip(np.average(y), 1e-4, 1 - 1e-4))
        theta0 = np.zeros(shapes.size)
        theta0[0] = math.log(base / (1 - base))
        if n >= cfg.min_rows_for_selection:
            chosen, power, theta0 = _select_priors(
                Xs, F, act, y, prop, A, cfg, shapes, d_eff, theta0, rng
            )
        D = _build_data(Xs, act, y, prop, A, cfg, power)
        prec = _prior_precision(shapes, cfg, chosen, d_eff)
        theta = _fit_map(D, F, shapes, prec, theta0, cfg.max_iter)
        var = _posterior_variance(D, F, shapes, prec, theta)
    else:
        prec = _prior_precision(shapes, cfg, chosen, d_eff)
        var = 1.0 / prec
    var = var * cfg.posterior_scale**2
    prec_u = 1.0 / (chosen[1] ** 2 / max(d_eff, 1.0))

    p = shapes.unpack(theta)
    pv = shapes.unpack(var)
    S = int(cfg.thompson_samples)
    z_shared = rng.standard_normal((S, k))
    z_action = rng.standard_normal((S, A))
    state = {
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
    meta: dict[str, object] = {
        "format_version": FORMAT_VERSION,
        "n_actions": A,
        "n_features": d,
        "n_rows": n,
        "epsilon": float(cfg.epsilon),
        "reward_scale": reward_scale,
        "prior_shared": float(chosen[0]),
        "prior_per_action": float(chosen[1]),
        "prior_intercept": float(chosen[2]),
        "propensity_power": float(power),
        "informative": bool(informative),
        "random_state": seed,
        "config": asdict(cfg),
    }
    return Policy(state, meta)


def _select_priors(
    Xs: np.ndarray,
    F: np.ndarray,
    act: np.ndarray,
    y: np.ndarray,
    prop: np.ndarray,
    A: int,
    cfg: LearnerConfig,
    shapes: _Shapes,
    d_eff: float,
    theta0: np.ndarray,
    rng: np.random.Generator,
) -> tuple[tuple[float, float, float], float, np.ndarray]:
    """Choose the (shared, per-action, intercept) prior scales and the propensity power.

    The criterion is the held-out inverse-propensity-weighted log-loss.

    Returns the scales, the power and the chosen model's parameters (a warm start for the final
    fit).

    Coordinate search on a log grid: each coordinate is walked from the current point towards
    weaker priors while the held-out loss improves (and one step stronger if the first step
    got worse), warm-starting every fit from the previous solution.
    """
    n = y.shape[0]
    budget = max(cfg.min_rows_for_selection, cfg.selection_cells // max(1, shapes.d))
    rows = rng.permutation(n)[: min(n, cfg.selection_rows, budget)]
    # Small logs: k-fold, so that the choice does not hinge on one small held-out set.
    small = rows.size < cfg.small_log_rows and rows.size * shapes.d <= 4_000_000
    n_folds = cfg.small_log_folds if small else 1
    folds = []
    for f in range(n_folds):
        if n_folds == 1:
            n_val = max(1, round(cfg.validation_fraction * rows.size))
            val, tr = rows[:n_val], rows[n_val:]
        else:
            val, tr = (
                rows[f::n_folds],
                np.concatenate([rows[g::n_folds] for g in range(n_folds) if g != f]),
            )
        Dtr = _build_data(Xs[tr], act[tr], y[tr], prop[tr], A, cfg, 0.0)
        Dval = _build_data(Xs[val], act[val], y[val], prop[val], A, cfg, 0.0)
        folds.append((Dtr, Dval))
    powers = (
        (cfg.propensity_power,)
        if cfg.propensity_power is not None
        else tuple(sorted(cfg.power_grid))
    )
    if np.ptp(prop) == 0:  # uniform logging: every power gives the same weights
        powers = (max(powers),)
    grids = (
        tuple(sorted(cfg.prior_grid)),
        tuple(sorted(cfg.prior_grid)),
        tuple(sorted(cfg.intercept_grid)),
        powers,
    )
    cache: dict[tuple[int, ...], tuple[float, np.ndarray, np.ndarray]] = {}
    last = [theta0] * len(folds)

    def loss_at(point: list[int]) -> float:
        key = tuple(point)
        if key not in cache:
            scales = (grids[0][key[0]], grids[1][key[1]], grids[2][key[2]])
            prec = _prior_precision(shapes, cfg, scales, d_eff)
            rows_loss = []
            for f, (Dtr, Dval) in enumerate(folds):
                Dtr.w = _importance_weights(Dtr.prop, Dtr.bounds, cfg.weight_clip, grids[3][key[3]])
                last[f] = _fit_map(
                    Dtr, F, shapes, prec, last[f], cfg.selection_max_iter, cfg.selection_ftol
                )
                rows_loss.append(_validation_losses(last[f], shapes, F, Dval, cfg.weight_clip))
            per_row = np.concatenate(rows_loss)
            cache[key] = (float(per_row.mean()), last[0], per_row)
        return cache[key][0]

    def allowed(point: list[int]) -> bool:
        # With action features, per-action context weights may not be looser than the shared
        # ones: the held-out loss cannot tell "explained by features" from "explained per
        # action" for logged actions, and only the former transfers to new or rare actions.
        return not shapes.k or grids[1][point[1]] <= grids[0][point[0]]

    def walk(point: list[int], axis: int) -> None:
        best = loss_at(point)
        for step in (1, -1):
            moved = False
            while 0 <= point[axis] + step < len(grids[axis]):
                cand = list(point)
                cand[axis] += step
                if not allowed(cand):
                    break
                cand_loss = loss_at(cand)
                if cand_loss >= best:
                    break
                point[:] = cand
                best = cand_loss
                moved = True
            if moved:
                return

    defaults = (cfg.default_shared, cfg.default_per_action, cfg.default_intercept, max(powers))
    point = [
        grid.index(min(grid, key=lambda g, t=t: abs(g - t)))
        for grid, t in zip(grids, defaults, strict=True)
    ]
    for axis in cfg.search_axes if shapes.k else tuple(a for a in cfg.search_axes if a):
        walk(point, axis)
    # Decision-oriented tie-break: the policy only needs the differences between actions, and
    # the log-loss optimum shrinks them more than the best policy does (measured with the
    # offline harness). Loosen the shared interaction prior while the held-out loss stays
    # within `loosen_se` standard errors. (Not the per-action one: on noise features that
    # only adds noise to the decisions.)
    axis = 0
    best_rows = cache[tuple(point)][2]
    while shapes.k and cfg.loosen_se > 0 and point[axis] + 1 < len(grids[axis]):
        cand = list(point)
        cand[axis] += 1
        if not allowed(cand):
            break
        loss_at(cand)
        diff = cache[tuple(cand)][2] - best_rows
        if diff.mean() > cfg.loosen_se * diff.std() / np.sqrt(diff.size):
            break
        point = cand
    key = tuple(point)
    scales = (grids[0][key[0]], grids[1][key[1]], grids[2][key[2]])
    return scales, grids[3][key[3]], cache[key][1]


# --------------------------------------------------------------------------------------------
# Off-policy estimates
# --------------------------------------------------------------------------------------------


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
