"""The Django-free evaluation arithmetic (`recommender.evaluation`): intervals and off-policy
differences. Runs without Django too (`make test`, `-p no:django`)."""

from __future__ import annotations

import numpy as np
import pytest

from recommender import evaluation


def test_wilson_interval_matches_the_textbook_values():
    r = evaluation.wilson(5, 10)
    assert (round(r.lower, 4), round(r.upper, 4)) == (0.2366, 0.7634)
    zero = evaluation.wilson(0, 10)
    assert zero.rate == 0 and zero.lower == 0 and round(zero.upper, 4) == 0.2775
    assert evaluation.wilson(0, 0).rate is None


def test_relative_uplift_interval_covers_the_truth_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(400):
        t, c = rng.binomial(4000, 0.06), rng.binomial(4000, 0.05)
        u = evaluation.relative_uplift(evaluation.wilson(t, 4000), evaluation.wilson(c, 4000))
        covered += u.lower <= 0.2 <= u.upper
    assert 0.92 <= covered / 400 <= 0.98
    none = evaluation.relative_uplift(evaluation.wilson(0, 0), evaluation.wilson(1, 10))
    assert none.value is None


def test_snips_difference_recovers_a_known_policy_gap_from_skewed_logs():
    rng = np.random.default_rng(1)
    n = 20000
    p_good = np.where(rng.random(n) < 0.5, 0.8, 0.3)  # a skewed logging policy, per row
    good = rng.random(n) < p_good
    prop = np.where(good, p_good, 1 - p_good)
    rewards = (rng.random(n) < np.where(good, 0.10, 0.04)).astype(float)
    always_good = good.astype(float)  # target: always the good action
    uniform = np.full(n, 0.5)
    d = evaluation.snips_difference(rewards, prop, always_good, uniform, n_boot=200)
    assert d.value_a == pytest.approx(0.10, abs=0.01)
    assert d.value_b == pytest.approx(0.07, abs=0.01)
    assert d.lower < 0.03 < d.upper and d.lower > 0
