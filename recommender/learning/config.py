"""The learner's knobs (`LearnerConfig`) and the single-threaded BLAS the fit runs under."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

try:  # installed with scikit-learn (one of its hard dependencies)
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - then BLAS runs with its default threads
    threadpool_limits = None


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
    #: Prior scale of the nonlinear part of the context (the step columns of
    #: `basis.ContextBasis`) relative to the linear part of the same block, before the evidence
    #: updates (`relevance`) set each feature's own: 1 lets a feature's step function vary as
    #: much as its slope.
    nonlinear_scale: float = 1.0
    #: Quantile bins per context column for the step columns (knots at the inner quantiles,
    #: with ``knot_placement="quantile"``); below 2, no nonlinear basis at all.
    nonlinear_bins: int = 6
    #: Where the step columns' knots go: "score", where the linear model's residuals on the
    #: family choice's training rows say a step is missing (`basis.basis_scored`), or
    #: "quantile", at the fixed quantiles of each column (`nonlinear_bins`).
    knot_placement: str = "score"
    #: "score" placement: candidate knots at the ``1/knot_candidates`` quantiles of each
    #: column, at most ``max_knots`` per column, each kept only if its score statistic passes
    #: ``knot_alpha`` corrected for the number of candidates tried.
    knot_candidates: int = 40
    max_knots: int = 4
    knot_alpha: float = 0.05
    #: A knot with fewer than this share of the rows on either side is dropped.
    nonlinear_min_share: float = 0.02
    #: Rows used to place the knots.
    nonlinear_sample_rows: int = 50_000
    #: A model family (evidence-set priors, then the step columns) replaces the simpler one only
    #: if it beats it on the held-out rows by more than this many standard errors of the paired
    #: difference (`selection._family_choice`). 0: the lower held-out loss wins. The step
    #: columns are only proposed where a score test found them missing, and on skewed logs the
    #: inverse-propensity-weighted loss is too noisy for a margin of standard errors: a margin
    #: of 2 kept the linear model where the richer families were better by 5-10 points of the
    #: gap (docs/benchmarks.md).
    family_min_se: float = 0.0
    #: Held-out rows for that comparison: a fifth of the log, at most this many.
    family_validation_rows: int = 50_000
    #: Evidence (relevance) updates of each feature's interaction prior (`relevance`); 0 = one
    #: prior scale for all interactions.
    relevance_iters: int = 3
    #: The families are compared, and the evidence updates made, on at most this many training
    #: rows (the final fit then uses every row).
    relevance_rows: int = 100_000
    #: Step columns whose interaction prior variance the evidence set below this are dropped
    #: before the final fit.
    prune_variance: float = 1e-6
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
    #: When the log has at least `grow_factor` times the rows the search trained on, the
    #: shared (0) and per-action (1) scales are walked again towards weaker priors, trained on
    #: every other row (at most `grow_rows` rows and `grow_cells` cells) against the same
    #: held-out rows.
    grow_factor: float = 2.0
    grow_rows: int = 150_000
    grow_cells: int = 40_000_000
    grow_axes: tuple[int, ...] = (0, 1)
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
    #: this many standard errors of the best (0 = plain argmin). On small logs (a few hundred
    #: conversions) the log-loss optimum shrinks the differences between actions far more than
    #: the decisions need. On large logs the loss rises faster than its standard error, so
    #: the margin rarely moves the prior there; 3 loosened it too far where the context does
    #: not matter at all (`test_learning_many_actions`), 2 too little on one log of six at
    #: 5,000 rows (docs/benchmarks.md).
    loosen_se: float = 2.5
    #: Thompson draws used to turn the posterior into probabilities (explore=True).
    thompson_samples: int = 128
    #: Share of the traffic that should be spread uniformly over the eligible actions, counting
    #: the uniform traffic outside the policy (`uniform_share`): the policy's own floor is
    #: ``max(epsilon_floor, epsilon - uniform_share)``.
    epsilon: float = 0.05
    #: The smallest floor the policy keeps whatever the uniform traffic beside it, so that no
    #: eligible action ever gets probability zero.
    epsilon_floor: float = 0.01
    #: Share of the decisions logged uniformly over the eligible actions outside this policy
    #: (the recommender's control arm, ``RECOMMENDER_CONTROL_SHARE``): that traffic already
    #: explores every action, so the policy's floor needs less.
    uniform_share: float = 0.0
    #: Multiplier on the posterior standard deviations when exploring (1 = plain Thompson).
    posterior_scale: float = 1.0
    #: With uniform traffic beside the policy (`uniform_share` > 0), the posterior standard
    #: deviations are multiplied by this as well: that traffic already gathers evidence on
    #: every action, the uncertain ones included, so the policy arm can lean on its estimates.
    #: In the simulator's closed loop 0.25 closed more of the gap than 0.5 on four seeds of
    #: five, its curve falling back by 0.01 at most in any week (docs/benchmarks.md, "Closed
    #: loop"); an offline log cannot show what exploration buys, only what it costs.
    control_posterior_scale: float = 0.25


def learner_config_from(overrides: Any, **base: Any) -> LearnerConfig:
    """A `LearnerConfig` from a mapping of field names to values (a setting, a command's JSON):
    `base` first, then `overrides`. Each value must be of its default's kind (a whole number
    for a count, a number for a float, numbers for a grid, a string for a string), so that a
    mistake is named where the values are read rather than inside the first fit. Grids may be
    given as lists. Raises ValueError naming every unknown field, or the first bad value."""
    if not isinstance(overrides, Mapping):
        raise ValueError(f"a mapping of LearnerConfig fields is needed, not {overrides!r}")
    defaults = {f.name: f.default for f in dataclasses.fields(LearnerConfig)}
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise ValueError(
            f"not LearnerConfig fields: {unknown!r}; the fields: {', '.join(sorted(defaults))}"
        )
    for name, given in overrides.items():
        if not _same_kind(given, defaults[name]):
            raise ValueError(f"{name} must be like its default {defaults[name]!r}; got {given!r}")
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return LearnerConfig(**{**base, **fields})


def _same_kind(given: Any, default: Any) -> bool:
    """Whether a value can stand for a `LearnerConfig` default: a whole number for a count, a
    number for a float (None: a number or None), a list of the grid's kind of values for a
    grid (whole numbers for the search axes), a string for a string."""

    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    if isinstance(default, tuple):
        kind = default[0] if default else 0.0
        return isinstance(given, list | tuple) and all(_same_kind(v, kind) for v in given)
    if isinstance(default, str):
        return isinstance(given, str)
    if isinstance(default, int):
        return number(given) and isinstance(given, int)
    return number(given) or (default is None and given is None)


def _policy_epsilon(cfg: LearnerConfig) -> float:
    """The policy's own uniform floor, given the uniform traffic beside it."""
    return float(max(cfg.epsilon_floor, cfg.epsilon - max(cfg.uniform_share, 0.0)))


def _thompson_scale(cfg: LearnerConfig) -> float:
    """Multiplier on the posterior standard deviations the Thompson draws use."""
    beside = cfg.control_posterior_scale if cfg.uniform_share > 0 else 1.0
    return float(cfg.posterior_scale * beside)


def _single_threaded_blas() -> contextlib.AbstractContextManager[object]:
    """BLAS limited to one thread.

    The fit is a long run of small matrix-vector products, for which OpenBLAS threads cost far
    more than they save (measured: 3-10x slower with 2 threads on the 2-core machine).
    """
    if threadpool_limits is None:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
