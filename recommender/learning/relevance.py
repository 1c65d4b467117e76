"""Relevance of each context feature for the decisions, by evidence (`_relevance_fit`).

The shared interactions ``W`` (context column x action feature) are where the decisions come
from, and with the nonlinear basis they are many: every step column of every feature times
every action feature. Most of them are noise (a noise column's steps, a feature that matters
for no action); one prior scale for all of them either leaves the noise free (and the policy
chases it) or shrinks the few real effects away. So each feature gets its own prior variance,
one for its linear interactions and one for its step interactions, set by the evidence
(MacKay's fixed point for the Laplace-approximated marginal likelihood, "automatic relevance
determination"): a group's variance becomes the squared size of its coefficients divided by
the number of them the data determine,

    gamma_g = sum_i (1 - var_i / s2_g),    s2_g <- sum_i theta_i**2 / gamma_g,

alternating with warm-started MAP fits. The per-action weights on raw columns get the same
treatment (otherwise what is taken from a noise feature's interactions reappears there).
Features that do not matter shrink towards zero, those that do get a looser prior than the
shared scale, and as the log grows every group's variance follows what the data determine
(on up to `relevance_rows` rows), so the prior stops shrinking real effects once the data
support them.
"""

from __future__ import annotations

import numpy as np

from recommender.learning.model import _Columns, _curvature, _Data, _fit_map, _Shapes

# Bounds on a group's prior variance per coefficient (logit per standardised unit, squared).
_MIN_VAR = 1e-8
_MAX_VAR = 100.0


def _groups(shapes: _Shapes, cols: _Columns, step_cols: np.ndarray) -> np.ndarray:
    """(D,) group of each context column: its raw feature's linear group (j) or step group
    (d + j), with d the number of raw columns."""
    d = int(cols.raw.sum())
    group = np.arange(shapes.d)
    if step_cols.size:
        group[d:] = d + step_cols
    return group


def _relevance_fit(
    D: _Data,
    F: np.ndarray,
    shapes: _Shapes,
    prec: np.ndarray,
    theta: np.ndarray,
    group: np.ndarray,
    raw: np.ndarray,
    *,
    iters: int,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Alternate MAP fits and evidence updates of the prior variances of the ``W`` groups and
    of the per-action weights ``U`` on raw columns (``raw``, (D,) bool).

    Returns the final prior precision and the MAP parameters under it.
    """
    prec = prec.copy()
    n_groups = int(group.max()) + 1 if group.size else 0
    # Per-action weights are set the same way on raw columns (on step columns they are off
    # when there are action features, see `model._per_action_variance`): otherwise what the
    # evidence takes from a noise feature's interactions reappears in its per-action weights.
    for _ in range(iters):
        theta = _fit_map(D, F, shapes, prec, theta, max_iter)
        var = _curvature(D, F, shapes, prec, theta)[0]
        P, T, V = shapes.unpack(prec), shapes.unpack(theta), shapes.unpack(var)
        P["W"][:] = _update(P["W"], T["W"], V["W"], group, n_groups, np.ones(shapes.d, bool))
        if P["U"].size:
            P["U"][:] = _update(P["U"], T["U"], V["U"], group, n_groups, raw)
    theta = _fit_map(D, F, shapes, prec, theta, max_iter)
    return prec, theta


def _update(
    prec: np.ndarray,
    theta: np.ndarray,
    var: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    rows: np.ndarray,
) -> np.ndarray:
    """One evidence update of a (D, m) block's prior precision, grouped by context column
    (only the columns in ``rows``; the others keep theirs)."""
    s2 = 1.0 / prec
    g = group[rows]
    sq = np.bincount(g, weights=(theta[rows] ** 2).sum(axis=1), minlength=n_groups)
    determined = np.bincount(
        g, weights=(1.0 - var[rows] / s2[rows]).sum(axis=1), minlength=n_groups
    )
    # A group the data determine less than one coefficient of is shrunk (its squared size
    # alone); dividing by a vanishing gamma would blow it up instead. A variance grows at most
    # tenfold per update, so one noisy fit cannot free a whole group at once.
    count = np.maximum(
        np.bincount(g, weights=np.full(g.size, float(prec.shape[1])), minlength=n_groups), 1
    )
    old = np.bincount(g, weights=s2[rows].sum(axis=1), minlength=n_groups) / count
    new = np.clip(sq / np.maximum(determined, 1.0), _MIN_VAR, np.minimum(10 * old, _MAX_VAR))
    out = prec.copy()
    out[rows] = 1.0 / new[g][:, None]
    return out
