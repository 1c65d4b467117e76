"""The nonlinear context representation: step features at quantile knots (`ContextBasis`).

Every context column with more than two distinct values gets "thermometer" step columns
``1[x_j > q]`` at its quantiles. The reward model stays linear in the expanded context, so
its fit, its posterior and Thompson sampling are unchanged, but each action's score can now be
any step function of a feature (age or balance thresholds, a bump in the hour of day), and its
interaction with the action features lets the steps differ by tone, CTA, channel or hour.
With a Gaussian prior on the coefficients of thermometer columns, the prior penalises the
*jumps* between neighbouring bins, so a weak prior on them gives a smooth-ish step function and
a strong one the linear model; how strong is chosen on held-out rows (`selection`), and zero
turns the basis off (the linear model exactly).
"""

from __future__ import annotations

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
