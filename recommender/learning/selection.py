"""Choosing the prior scales and the propensity power on held-out rows.

`_select_priors` runs the search in named steps: the held-out folds (`_selection_folds`),
the grids searched (`_search_grids`), then a coordinate search over them (`_PriorSearch`:
`walk` along each axis, then `loosen` the shared-interaction prior).
"""

from __future__ import annotations

import numpy as np

from recommender.learning.config import LearnerConfig
from recommender.learning.model import (
    _build_data,
    _Data,
    _fit_map,
    _importance_weights,
    _prior_precision,
    _Shapes,
    _validation_losses,
)

Grids = tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...]]
"""Candidate (shared, per-action, intercept) prior scales and propensity powers, each sorted."""


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
    folds = _selection_folds(Xs, act, y, prop, A, cfg, shapes, rng)
    grids = _search_grids(cfg, prop)
    search = _PriorSearch(folds, grids, F=F, cfg=cfg, shapes=shapes, d_eff=d_eff, theta0=theta0)
    point = search.start()
    for axis in cfg.search_axes if shapes.k else tuple(a for a in cfg.search_axes if a):
        search.walk(point, axis)
    point = search.loosen(point)
    return search.result(point)


def _selection_folds(
    Xs: np.ndarray,
    act: np.ndarray,
    y: np.ndarray,
    prop: np.ndarray,
    A: int,
    cfg: LearnerConfig,
    shapes: _Shapes,
    rng: np.random.Generator,
) -> list[tuple[_Data, _Data]]:
    """(train, held-out) pairs on a sample of the rows: one split, or k folds for small logs."""
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
    return folds


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
        d_eff: float,
        theta0: np.ndarray,
    ) -> None:
        self.folds, self.grids = folds, grids
        self.F, self.cfg, self.shapes, self.d_eff = F, cfg, shapes, d_eff
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

    def scales(self, key: tuple[int, ...]) -> tuple[float, float, float]:
        return (self.grids[0][key[0]], self.grids[1][key[1]], self.grids[2][key[2]])

    def loss_at(self, point: list[int]) -> float:
        """Mean held-out loss over the folds at `point` (fitted once per point)."""
        key = tuple(point)
        if key not in self.cache:
            cfg, shapes = self.cfg, self.shapes
            prec = _prior_precision(shapes, cfg, self.scales(key), self.d_eff)
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

    def walk(self, point: list[int], axis: int) -> None:
        """Move `point` along `axis` while the loss improves: weaker priors first, else one
        direction stronger."""
        best = self.loss_at(point)
        for step in (1, -1):
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

    def result(self, point: list[int]) -> tuple[tuple[float, float, float], float, np.ndarray]:
        """The scales, the power and the first fold's parameters at `point`."""
        key = tuple(point)
        return self.scales(key), self.grids[3][key[3]], self.cache[key][1]
