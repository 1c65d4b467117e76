"""The nonlinear context representation: step features at chosen knots (`ContextBasis`).

A context column with more than two distinct values gets "thermometer" step columns
``1[x_j > q]``: at the knots where the linear model's residuals say a step is missing
(`basis_scored`, a score test; the default), or at fixed quantiles (`basis_fit`). The model
stays linear in the expanded context, so its fit, its posterior and Thompson sampling are
unchanged, but each action's score can now be any step function of a feature (age or balance
thresholds, a bump in the hour of day), and its interaction with the action features lets the
steps differ by tone, CTA, channel or hour. With a Gaussian prior on the coefficients of
thermometer columns, the prior penalises the *jumps* between neighbouring knots, so a weak
prior on them gives a smooth-ish step function and a strong one the linear model; how strong
is set by the evidence (`relevance`), and whether the steps are used at all is chosen on
held-out rows (`selection`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ContextBasis:
    """Step columns appended to the raw context: column ``cols[i]`` above ``knots[i]``."""

    cols: np.ndarray  # (m,) int64 raw column of each step column
    knots: np.ndarray  # (m,) float64 threshold

    @property
    def size(self) -> int:
        return int(self.cols.shape[0])

    def transform(self, X: np.ndarray, dtype: type = np.float64) -> np.ndarray:
        """``[X, steps]`` of shape (n, d + m) in ``dtype``."""
        out = np.empty((X.shape[0], X.shape[1] + self.size), dtype=dtype)
        out[:, : X.shape[1]] = X
        if self.size:
            np.greater(X[:, self.cols], self.knots, out=out[:, X.shape[1] :], casting="unsafe")
        return out

    def steps_per_column(self, d: int) -> np.ndarray:
        """(d,) number of step columns of each raw column."""
        return np.bincount(self.cols, minlength=d)


def basis_none() -> ContextBasis:
    return ContextBasis(np.zeros(0, dtype=np.int64), np.zeros(0))


def basis_fit(
    X: np.ndarray,
    *,
    n_bins: int,
    min_share: float,
    sample_rows: int,
    rng: np.random.Generator,
) -> ContextBasis:
    """Knots at the ``1/n_bins ... (n_bins-1)/n_bins`` quantiles of each column with more than
    two distinct values (one-hot and other binary columns need none).

    Knots are computed on at most ``sample_rows`` rows; duplicates (discrete columns) are
    merged, and a knot leaving fewer than ``min_share`` of the rows on either side is dropped.
    """
    n, d = X.shape
    if n == 0 or n_bins < 2:
        return basis_none()
    S = X if n <= sample_rows else X[rng.choice(n, sample_rows, replace=False)]
    qs = np.arange(1, n_bins) / n_bins
    cols, knots = [], []
    for j in range(d):
        x = S[:, j]
        if np.unique(x[: min(len(x), 5000)]).size <= 2 and np.unique(x).size <= 2:
            continue
        for q in np.unique(np.quantile(x, qs)):
            share = float(np.mean(x > q))
            if min_share <= share <= 1.0 - min_share:
                cols.append(j)
                knots.append(float(q))
    return ContextBasis(np.asarray(cols, dtype=np.int64), np.asarray(knots, dtype=np.float64))


def basis_scored(
    X: np.ndarray,
    actions: np.ndarray,
    residual: np.ndarray,
    curvature: np.ndarray,
    directions: np.ndarray,
    *,
    candidates: int,
    max_knots: int,
    min_share: float,
    alpha: float,
) -> ContextBasis:
    """Knots where a fitted model's residuals say a step is missing (a score test).

    ``residual`` is each row's weighted gradient of the log-likelihood with respect to its
    logit, ``w (y - p)``, and ``curvature`` its weighted curvature ``w p (1 - p)``, under a
    model fitted without steps; ``directions`` (A, r) spans how a step may differ between
    actions (the centred action features, orthonormal). For a step column ``z = 1[x_j > t]``
    interacting with those directions, the score statistic

        T(t) = g' M^-1 g,  g = sum_i z_i residual_i q_(a_i),  M = sum_i z_i curvature_i q q'

    is about chi-squared with r degrees of freedom when no step at ``t`` is missing. It is
    taken *given* what the model already has for the column, each action's constant and its
    slope in ``x_j`` along the directions (a step in the middle of a monotone effect is mostly
    slope), and the knots already chosen (the joint statistic's increase, so the shoulders of
    a chosen step do not count again). Each column's candidates are its ``1/candidates``
    quantiles leaving ``min_share`` of the rows on each side; knots are added one at a time,
    or as a pair when no single one passes (two steps a straight line averages out), while
    the increase passes ``alpha`` Bonferroni-corrected over the candidates (or pairs) of every
    column, up to ``max_knots`` per column. Everything is computed from per-action sums above
    each candidate: one pass over the rows per column.
    """
    from scipy.stats import chi2

    n, d = X.shape
    r = directions.shape[1]
    if n == 0 or r == 0 or candidates < 2:
        return basis_none()
    qs = np.arange(1, candidates) / candidates
    # Bonferroni over the single knots and over the pairs tried, of every column.
    thresholds = (
        float(chi2.isf(alpha / (candidates * d), r)),
        float(chi2.isf(alpha / (candidates * (candidates - 1) / 2 * d), 2 * r)),
    )
    cols: list[int] = []
    knots: list[float] = []
    for j in range(d):
        x = X[:, j]
        if np.unique(x[: min(n, 5000)]).size <= 2 and np.unique(x).size <= 2:
            continue
        cand = np.unique(np.quantile(x, qs))
        scores = _StepScores(x, cand, actions, residual, curvature, directions)
        chosen = _column_knots(
            scores, cand, max_knots=max_knots, min_share=min_share, thresholds=thresholds
        )
        cols += [j] * len(chosen)
        knots += chosen
    return ContextBasis(np.asarray(cols, dtype=np.int64), np.asarray(knots, dtype=np.float64))


def _column_knots(
    scores: _StepScores,
    cand: np.ndarray,
    *,
    max_knots: int,
    min_share: float,
    thresholds: tuple[float, float],
) -> list[float]:
    """One column's knots among its candidates `cand`: greedy forward selection by the score
    statistic (`scores`) given what the model already has (each action's constant and its
    slope in this column along the directions, and the knots chosen so far)."""
    ok = (scores.share >= min_share) & (scores.share <= 1.0 - min_share)
    chosen: list[int] = []
    base = scores.stat([])
    while len(chosen) < max_knots:
        # One knot at a time; when no single knot passes, a pair (a bump, or two steps that
        # a straight line averages out) before giving up.
        for size in (1, 2) if len(chosen) + 2 <= max_knots else (1,):
            value, new = scores.best_addition(chosen, size, ok)
            if new and value - base >= thresholds[size - 1]:
                break
        else:
            break
        chosen += new
        base = value
    return sorted(float(cand[t]) for t in chosen)


class _StepScores:
    """The score statistic of sets of steps on one column, from per-action sums.

    Elements: 0 = each action's constant, 1 = its slope in the column, 2 + t = the step at
    candidate t; the information between two steps is that of the higher one
    (``z_s z_t = z_max(s, t)``).
    """

    def __init__(
        self,
        x: np.ndarray,
        cand: np.ndarray,
        actions: np.ndarray,
        residual: np.ndarray,
        curvature: np.ndarray,
        Q: np.ndarray,
    ) -> None:
        A, m = Q.shape[0], cand.size
        xs = (x - x.mean()) / max(float(x.std()), 1e-12)
        above_bin = np.searchsorted(cand, x, side="left")  # x > cand[t]  <=>  above_bin > t
        idx = above_bin * A + actions

        def above(weights: np.ndarray) -> np.ndarray:
            """(m + 1, A): per-action sums over all rows (row 0) and above each candidate
            (row t + 1: the rows above candidate t)."""
            per_bin = np.bincount(idx, weights=weights, minlength=(m + 1) * A)
            return np.cumsum(per_bin.reshape(m + 1, A)[::-1], axis=0)[::-1]

        G, H, GX, HX = (above(w) for w in (residual, curvature, residual * xs, curvature * xs))
        counts = np.bincount(above_bin, minlength=m + 1)
        self.share = np.cumsum(counts[::-1])[::-1][1:] / max(x.size, 1)
        self.g = np.vstack([G[0] @ Q, GX[0] @ Q, G[1:] @ Q])
        self.info = {
            "H": np.einsum("ta,ap,aq->tpq", H, Q, Q),
            "HX": np.einsum("ta,ap,aq->tpq", HX, Q, Q),
        }
        self.xx = Q.T @ ((above(curvature * xs * xs)[0])[:, None] * Q)
        self.ridge = 1e-9 * max(float(np.trace(self.info["H"][0])), 1e-12) * np.eye(Q.shape[1])
        self.ridges: dict[int, np.ndarray] = {}  # `_ridge`, by number of elements

    def block(self, e: int, f: int) -> np.ndarray:
        e, f = min(e, f), max(e, f)
        if e == f == 1:
            return self.xx
        rows = f - 1 if f > 1 else 0  # the higher element's rows (0: all of them)
        return self.info["HX" if 1 in (e, f) else "H"][rows]

    def stat(self, steps: list[int]) -> float:
        """The joint statistic of the constant, the slope and the steps at ``steps``."""
        return self.stats([steps])[0]

    def stats(self, step_sets: list[list[int]], chunk: int = 64) -> list[float]:
        """`stat` of each set of steps (all of one size), its linear systems solved a chunk at
        a time (one LAPACK call per system, as `stat` alone would make)."""
        out: list[float] = []
        for lo in range(0, len(step_sets), chunk):
            part = step_sets[lo : lo + chunk]
            S = [[0, 1, *(2 + t for t in steps)] for steps in part]
            r = self.ridge.shape[0]
            k = len(S[0]) * r
            M = np.empty((len(S), k, k))
            gv = np.empty((len(S), k))
            for i, elements in enumerate(S):
                for p, e in enumerate(elements):
                    gv[i, p * r : (p + 1) * r] = self.g[e]
                    for q, f in enumerate(elements):
                        M[i, p * r : (p + 1) * r, q * r : (q + 1) * r] = self.block(e, f)
            M += self._ridge(len(S[0]))
            x = np.linalg.solve(M, gv[:, :, None])[:, :, 0]
            out += [float(gv[i] @ x[i]) for i in range(len(S))]
        return out

    def _ridge(self, size: int) -> np.ndarray:
        """The ridge on the diagonal blocks of a system of ``size`` elements."""
        if size not in self.ridges:
            self.ridges[size] = np.kron(np.eye(size), self.ridge)
        return self.ridges[size]

    def best_addition(
        self, chosen: list[int], size: int, ok: np.ndarray
    ) -> tuple[float, tuple[int, ...]]:
        """The largest joint statistic with ``size`` more knots (among ``ok``, not next to a
        chosen one or to each other), and those knots."""
        free = [t for t in np.flatnonzero(ok) if all(abs(t - s) >= 2 for s in chosen)]
        sets = [
            new for new in itertools.combinations(free, size) if size != 2 or new[1] - new[0] >= 2
        ]
        best: tuple[float, tuple[int, ...]] = (-np.inf, ())
        for new, value in zip(sets, self.stats([[*chosen, *new] for new in sets]), strict=True):
            if value > best[0]:
                best = (value, new)
        return best
