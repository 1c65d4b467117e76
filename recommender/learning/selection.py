"""Choosing the prior scales and the propensity power on held-out rows.

`_select_priors` runs the search in named steps: the held-out folds (`_selection_folds`),
the grids searched (`_search_grids`), then a coordinate search over them (`_PriorSearch`:
`walk` along each axis, then `loosen` the shared-interaction prior).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.learning.config import LearnerConfig
from recommender.learning.model import (
    _build_data,
    _Columns,
    _Data,
    _fit_map,
    _importance_weights,
    _prior_precision,
    _Shapes,
    _validation_losses,
)
from recommender.learning.relevance import _groups, _relevance_fit

Grids = tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...]]
"""Candidate (shared, per-action, intercept) prior scales and propensity powers, each sorted."""

Scales = tuple[float, float, float, float]
"""(shared, per-action, intercept, nonlinear) prior scales; the search leaves the nonlinear
one at 0 (the linear model) and `_family_choice` decides about the step columns."""


def _select_priors(
    Xs: np.ndarray,
    F: np.ndarray,
    act: np.ndarray,
    y: np.ndarray,
    prop: np.ndarray,
    A: int,
    cfg: LearnerConfig,
    shapes: _Shapes,
    cols: _Columns,
    theta0: np.ndarray,
    rng: np.random.Generator,
) -> tuple[Scales, float, np.ndarray]:
    """Choose the (shared, per-action, intercept) prior scales and the propensity power of the
    model linear in the context.

    The criterion is the held-out inverse-propensity-weighted log-loss.

    Returns the scales, the power and the chosen model's parameters (a warm start for the final
    fit).

    Coordinate search on a log grid: each coordinate is walked from the current point towards
    weaker priors while the held-out loss improves (and one step stronger if the first step
    got worse), warm-starting every fit from the previous solution.
    """
    folds, val_rows = _selection_folds(Xs, act, y, prop, A, cfg, shapes, rng)
    grids = _search_grids(cfg, prop)
    search = _PriorSearch(folds, grids, F=F, cfg=cfg, shapes=shapes, cols=cols, theta0=theta0)
    point = search.start()
    for axis in cfg.search_axes if shapes.k else tuple(a for a in cfg.search_axes if a):
        search.walk(point, axis)
    point = search.loosen(point)
    train_rows = folds[0][0].y.shape[0]
    if val_rows is None or y.shape[0] - val_rows.size < cfg.grow_factor * train_rows:
        return search.result(point)
    # More rows than the search trained on: the best prior for the final fit is weaker than
    # the best for a subsample (the held-out optimum of a misspecified model loosens as data
    # grow), so the weaker directions are walked again on the largest affordable training set.
    big = _grown_fold(Xs, act, y, prop, A, cfg, shapes, val_rows, folds[0][1], rng)
    grown = _PriorSearch(
        [big], grids, F=F, cfg=cfg, shapes=shapes, cols=cols, theta0=search.result(point)[2]
    )
    for axis in cfg.grow_axes if shapes.k else tuple(a for a in cfg.grow_axes if a):
        grown.walk(point, axis, weaker_only=True)
    return grown.result(point)


def _selection_folds(
    Xs: np.ndarray,
    act: np.ndarray,
    y: np.ndarray,
    prop: np.ndarray,
    A: int,
    cfg: LearnerConfig,
    shapes: _Shapes,
    rng: np.random.Generator,
) -> tuple[list[tuple[_Data, _Data]], np.ndarray | None]:
    """(train, held-out) pairs on a sample of the rows: one split, or k folds for small logs;
    and the held-out rows of the one split (None for k folds)."""
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
    return folds, (val if n_folds == 1 else None)


def _grown_fold(
    Xs: np.ndarray,
    act: np.ndarray,
    y: np.ndarray,
    prop: np.ndarray,
    A: int,
    cfg: LearnerConfig,
    shapes: _Shapes,
    val_rows: np.ndarray,
    Dval: _Data,
    rng: np.random.Generator,
) -> tuple[_Data, _Data]:
    """Every row but the held-out ones (at most `grow_rows` and `grow_cells`) against the same
    held-out rows."""
    n = y.shape[0]
    mask = np.ones(n, dtype=bool)
    mask[val_rows] = False
    tr = np.flatnonzero(mask)
    cap = min(cfg.grow_rows, max(1, cfg.grow_cells // max(1, shapes.d)))
    if tr.size > cap:
        tr = np.sort(rng.choice(tr, cap, replace=False))
    return _build_data(Xs[tr], act[tr], y[tr], prop[tr], A, cfg, 0.0), Dval


def _search_grids(cfg: LearnerConfig, prop: np.ndarray) -> Grids:
    """The sorted candidates of each searched axis; one power when logging was uniform."""
    powers = (
        (cfg.propensity_power,)
        if cfg.propensity_power is not None
        else tuple(sorted(cfg.power_grid))
    )
    if np.ptp(prop) == 0:  # uniform logging: every power gives the same weights
        powers = (max(powers),)
    return (
        tuple(sorted(cfg.prior_grid)),
        tuple(sorted(cfg.prior_grid)),
        tuple(sorted(cfg.intercept_grid)),
        powers,
    )


class _PriorSearch:
    """A coordinate search over grid indices (shared, per-action, intercept, power).

    Every point's held-out loss is computed once (`loss_at` caches it with the parameters of
    the first fold and the per-row losses), and each fold's fit is warm-started from that
    fold's previous solution.
    """

    def __init__(
        self,
        folds: list[tuple[_Data, _Data]],
        grids: Grids,
        *,
        F: np.ndarray,
        cfg: LearnerConfig,
        shapes: _Shapes,
        cols: _Columns,
        theta0: np.ndarray,
    ) -> None:
        self.folds, self.grids = folds, grids
        self.F, self.cfg, self.shapes, self.cols = F, cfg, shapes, cols
        self.cache: dict[tuple[int, ...], tuple[float, np.ndarray, np.ndarray]] = {}
        self.last = [theta0] * len(folds)

    def start(self) -> list[int]:
        """The grid point nearest the configured defaults."""
        cfg, grids = self.cfg, self.grids
        defaults = (
            cfg.default_shared,
            cfg.default_per_action,
            cfg.default_intercept,
            max(grids[3]),
        )
        return [
            grid.index(min(grid, key=lambda g, t=t: abs(g - t)))
            for grid, t in zip(grids, defaults, strict=True)
        ]

    def scales(self, key: tuple[int, ...]) -> Scales:
        g = self.grids
        return (g[0][key[0]], g[1][key[1]], g[2][key[2]], 0.0)

    def loss_at(self, point: list[int]) -> float:
        """Mean held-out loss over the folds at `point` (fitted once per point)."""
        key = tuple(point)
        if key not in self.cache:
            cfg, shapes = self.cfg, self.shapes
            prec = _prior_precision(shapes, cfg, self.scales(key), self.cols)
            rows_loss = []
            for f, (Dtr, Dval) in enumerate(self.folds):
                Dtr.w = _importance_weights(
                    Dtr.prop, Dtr.bounds, cfg.weight_clip, self.grids[3][key[3]]
                )
                self.last[f] = _fit_map(
                    Dtr, self.F, shapes, prec, self.last[f], cfg.selection_max_iter,
                    cfg.selection_ftol,
                )  # fmt: skip
                rows_loss.append(
                    _validation_losses(self.last[f], shapes, self.F, Dval, cfg.weight_clip)
                )
            per_row = np.concatenate(rows_loss)
            self.cache[key] = (float(per_row.mean()), self.last[0], per_row)
        return self.cache[key][0]

    def allowed(self, point: list[int]) -> bool:
        # With action features, per-action context weights may not be looser than the shared
        # ones: the held-out loss cannot tell "explained by features" from "explained per
        # action" for logged actions, and only the former transfers to new or rare actions.
        return not self.shapes.k or self.grids[1][point[1]] <= self.grids[0][point[0]]

    def walk(self, point: list[int], axis: int, *, weaker_only: bool = False) -> None:
        """Move `point` along `axis` while the loss improves: weaker priors first, else one
        direction stronger (unless `weaker_only`)."""
        best = self.loss_at(point)
        for step in (1,) if weaker_only else (1, -1):
            moved = False
            while 0 <= point[axis] + step < len(self.grids[axis]):
                cand = list(point)
                cand[axis] += step
                if not self.allowed(cand):
                    break
                cand_loss = self.loss_at(cand)
                if cand_loss >= best:
                    break
                point[:] = cand
                best = cand_loss
                moved = True
            if moved:
                return

    def loosen(self, point: list[int]) -> list[int]:
        """Decision-oriented tie-break: loosen the shared interaction prior while the held-out
        loss stays within `loosen_se` standard errors of `point`'s.

        The policy only needs the differences between actions, and the log-loss optimum
        shrinks them more than the best policy does (measured with the offline harness). (Not
        the per-action prior: on noise features that only adds noise to the decisions.)
        """
        axis = 0
        best_rows = self.cache[tuple(point)][2]
        while self.shapes.k and self.cfg.loosen_se > 0 and point[axis] + 1 < len(self.grids[axis]):
            cand = list(point)
            cand[axis] += 1
            if not self.allowed(cand):
                break
            self.loss_at(cand)
            diff = self.cache[tuple(cand)][2] - best_rows
            if diff.mean() > self.cfg.loosen_se * diff.std() / np.sqrt(diff.size):
                break
            point = cand
        return point

    def result(self, point: list[int]) -> tuple[Scales, float, np.ndarray]:
        """The scales, the power and the first fold's parameters at `point`."""
        key = tuple(point)
        return self.scales(key), self.grids[3][key[3]], self.cache[key][1]


@dataclass
class _FamilyChoice:
    """The outcome of `_family_choice`: the chosen model family, its prior precision and its
    parameters on the training rows (the final fit starts from them), and the held-out gain
    of each family over the one before it (loss per row, standard error)."""

    family: str  # "linear", "relevance" or "nonlinear"
    prec: np.ndarray
    theta: np.ndarray
    gains: dict[str, tuple[float, float]]


def _family_choice(
    lin: tuple[np.ndarray, _Shapes, _Columns, np.ndarray],
    nonlin: tuple[np.ndarray, _Shapes, _Columns, np.ndarray] | None,
    *,
    F: np.ndarray,
    act: np.ndarray,
    y: np.ndarray,
    prop: np.ndarray,
    cfg: LearnerConfig,
    scales: Scales,
    power: float,
    step_cols: np.ndarray,
    rows: tuple[np.ndarray, np.ndarray],
    data: dict[int, tuple[_Data, _Data]] | None = None,
) -> _FamilyChoice:
    """Choose among three families, from the simplest: the linear model with the searched
    priors ("linear"), the same with evidence-set interaction priors ("relevance", see
    `relevance`), and that on the context plus its step columns ("nonlinear").

    ``lin`` and ``nonlin`` are (standardised context, shapes, columns, warm start) without and
    with the step columns (``nonlin`` None: no step columns to try). Every family is fitted
    on the same rows, as many as `relevance_rows` (the better family depends on how many rows
    it will be fitted on: a subsample would favour the simpler ones), and scored by the same
    held-out inverse-propensity-weighted log-loss (on a fifth of the rows, at most
    `family_validation_rows`). A family replaces the simpler one only if it is ahead by more
    than `family_min_se` standard errors of the paired difference (by default 0: the lower
    loss wins, and the simpler model wins exact ties).

    ``rows`` are the (training, held-out) rows (`_family_rows`); ``data`` may hold a design's
    training and held-out `_Data` already built, by ``id`` of its standardised context.
    """
    tr, val = rows
    candidates = [("linear", lin, 0.0, False), ("relevance", lin, 0.0, True)]
    if nonlin is not None:
        candidates.append(("nonlinear", nonlin, cfg.nonlinear_scale, True))
    data = dict(data or {})
    best: tuple[str, np.ndarray, np.ndarray, np.ndarray] | None = None
    gains: dict[str, tuple[float, float]] = {}
    for name, (Xs, shapes, cols, theta0), nonlinear, relevance in candidates:
        if id(Xs) not in data:
            data[id(Xs)] = (
                _build_data(Xs[tr], act[tr], y[tr], prop[tr], shapes.A, cfg, power),
                _build_data(Xs[val], act[val], y[val], prop[val], shapes.A, cfg, 0.0),
            )
        Dtr, Dval = data[id(Xs)]
        prec = _prior_precision(shapes, cfg, (*scales[:3], nonlinear), cols)
        group = _groups(shapes, cols, step_cols[: shapes.d - lin[1].d]) if relevance else None
        prec, theta = _candidate_fit(Dtr, F, shapes, cols, prec, theta0, group, cfg)
        loss = _validation_losses(theta, shapes, F, Dval, cfg.weight_clip)
        if best is not None:
            diff = best[3] - loss
            gains[name] = (float(diff.mean()), float(diff.std() / np.sqrt(diff.size)))
        if best is None or gains[name][0] > cfg.family_min_se * gains[name][1]:
            best = (name, prec, theta, loss)
    assert best is not None
    return _FamilyChoice(best[0], best[1], best[2], gains)


def _family_rows(
    n: int, width: int, cfg: LearnerConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out rows of the family choice. As many held-out rows as a fifth of the
    log allows, up to `family_validation_rows` (the gains are small per row, and on a large log
    the rows are worth having); up to `relevance_rows` training rows (and `grow_cells`)."""
    rows = rng.permutation(n)
    n_val = max(
        round(cfg.validation_fraction * min(n, cfg.selection_rows)),
        min(round(0.2 * n), cfg.family_validation_rows),
        1,
    )
    cap = min(cfg.relevance_rows, max(1, cfg.grow_cells // width))
    return np.sort(rows[n_val : n_val + cap]), rows[:n_val]


def _candidate_fit(
    D: _Data,
    F: np.ndarray,
    shapes: _Shapes,
    cols: _Columns,
    prec: np.ndarray,
    theta0: np.ndarray,
    group: np.ndarray | None,
    cfg: LearnerConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """One family's fit on the training rows: with evidence updates of the priors when
    ``group`` is given, else with ``prec`` as it is."""
    if group is None:
        return prec, _fit_map(D, F, shapes, prec, theta0, cfg.selection_max_iter)
    return _relevance_fit(
        D, F, shapes, prec, theta0, group, cols.raw,
        iters=cfg.relevance_iters, max_iter=cfg.selection_max_iter,
    )  # fmt: skip
