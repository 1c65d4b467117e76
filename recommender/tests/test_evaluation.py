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


def test_sample_size_for_two_proportions_matches_the_hand_computed_textbook_value():
    # 10% vs 15%, alpha 0.05 two-sided, power 0.8, equal arms (Fleiss, Levin & Paik ch. 4,
    # no continuity correction): p = 0.125, z(0.975) = 1.959964, z(0.8) = 0.841621;
    # 1.959964 * sqrt(2 * 0.125 * 0.875) = 0.916689, 0.841621 * sqrt(0.09 + 0.1275) = 0.392500;
    # (0.916689 + 0.392500)^2 / 0.05^2 = 1.713976 / 0.0025 = 685.6 -> 686 per arm.
    size = evaluation.two_proportion_sample_size(
        baseline_rate=0.10, relative_uplift=0.5, control_share=0.5
    )
    assert (size.control, size.policy) == (686, 686)
    assert size.target_rate == pytest.approx(0.15)


def test_sample_size_with_a_small_control_share_follows_the_unequal_groups_formula():
    # Control share 0.1: k = 9 policy sends per control send. p = (0.10 + 9 * 0.15) / 10 =
    # 0.145; 1.959964 * sqrt(0.145 * 0.855 * 10/9) = 0.727434; 0.841621 * sqrt(0.09 +
    # 0.1275/9) = 0.271632; (0.999066)^2 / 0.0025 = 399.25 -> 400 control, 9 * 399.25 -> 3594.
    size = evaluation.two_proportion_sample_size(
        baseline_rate=0.10, relative_uplift=0.5, control_share=0.1
    )
    assert (size.control, size.policy) == (400, 3594)


def test_the_sample_size_gives_the_promised_power():
    """Simulated pooled two-proportion z-tests at the computed sizes reject about 80% of the
    time when the uplift is real and about 5% when it is not."""
    size = evaluation.two_proportion_sample_size(
        baseline_rate=0.10, relative_uplift=0.5, control_share=0.2
    )
    rng = np.random.default_rng(7)

    def rejections(p_policy: float) -> float:
        c = rng.binomial(size.control, 0.10, 4000)
        t = rng.binomial(size.policy, p_policy, 4000)
        pooled = (c + t) / (size.control + size.policy)
        se = np.sqrt(pooled * (1 - pooled) * (1 / size.control + 1 / size.policy))
        z = (t / size.policy - c / size.control) / se
        return float(np.mean(np.abs(z) > evaluation.Z95))

    assert rejections(0.15) == pytest.approx(0.80, abs=0.03)
    assert rejections(0.10) == pytest.approx(0.05, abs=0.015)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"baseline_rate": 0.0, "relative_uplift": 0.2, "control_share": 0.1},
        {"baseline_rate": 0.1, "relative_uplift": 0.0, "control_share": 0.1},
        {"baseline_rate": 0.1, "relative_uplift": 0.2, "control_share": 0.0},
    ],
)
def test_sample_size_refuses_a_zero_baseline_uplift_or_control_share(kwargs):
    with pytest.raises(ValueError):
        evaluation.two_proportion_sample_size(**kwargs)


def test_the_promotion_tests_power_follows_the_normal_approximation():
    from recommender.evaluation import Z80, Z95, rejection_power

    # se 0.01: an interval of +-0.0196 around the difference.
    d = {"lower": -0.0196, "upper": 0.0196, "value_b": 0.2, "difference": 0.0}
    test = rejection_power(d, relative_drop=0.10)
    assert test["se"] == pytest.approx(0.01, rel=1e-3)
    assert test["drop"] == pytest.approx(0.02)
    # A drop of 2 se is caught when the estimate falls 1.96 se below it: Phi(2 - 1.96).
    assert test["power"] == pytest.approx(0.516, abs=0.002)
    assert test["detectable_drop"] == pytest.approx((Z95 + Z80) * 0.01, rel=1e-3)
    # A drop exactly at the detectable size is caught 80% of the time.
    at = rejection_power({**d, "value_b": test["detectable_drop"] / 0.10})
    assert at["power"] == pytest.approx(0.80, abs=1e-3)
    # A tolerance moves the bar: the same drop is caught less often.
    assert rejection_power(d, tolerance=0.01)["power"] < test["power"]


def test_a_comparison_without_an_interval_states_no_power():
    from recommender.evaluation import promotion_power_text, rejection_power

    test = rejection_power({"lower": None, "upper": None, "value_b": 0.1})
    assert test["power"] is None and test["se"] is None
    # Two policies that chose alike on every row: a zero-width interval claims no power.
    same = rejection_power({"lower": 0.0, "upper": 0.0, "value_b": 0.1, "difference": 0.0})
    assert same["se"] == 0 and same["power"] is None and same["detectable_drop"] is None
    assert promotion_power_text({"vs_live": {"test": same}}).startswith("none: the models chose")
    assert promotion_power_text({"vs_live": {"test": test}}) == "-"
    assert promotion_power_text({}) == "-"
    waiting = {"vs_live": {"model": "m1", "n": 53, "difference": None}}
    assert promotion_power_text(waiting) == "not compared yet: 53 unseen held-out rows"
