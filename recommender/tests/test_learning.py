"""Unit tests of the bandit learner (``recommender/learning/``): plain numpy, no database."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.learning import (
    LearnerConfig,
    Policy,
    dr_value,
    fit_policy,
    learner_config_from,
    snips_value,
)


def _planted_p(X: np.ndarray, n_actions: int) -> np.ndarray:
    """True conversion probabilities: action 2 is best when x0 > 0, action 5 otherwise."""
    logit = np.full((X.shape[0], n_actions), -3.0)
    logit[:, 2] = -2.0 + 1.5 * X[:, 0]
    logit[:, 5] = -2.0 - 1.5 * X[:, 0]
    return 1 / (1 + np.exp(-logit))


def _uniform_logs(
    n: int, d: int, n_actions: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Uniformly logged rows from the planted world of :func:`_planted_p`."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    actions = rng.integers(0, n_actions, n)
    p = _planted_p(X, n_actions)
    rewards = (rng.random(n) < p[np.arange(n), actions]).astype(float)
    return X, actions, rewards, np.full(n, 1.0 / n_actions)


@pytest.fixture(scope="module")
def planted() -> tuple[Policy, np.ndarray]:
    X, a, r, prop = _uniform_logs(8000, 5, 8, seed=1)
    policy = fit_policy(X, a, r, prop, n_actions=8, random_state=0)
    X_new = np.random.default_rng(2).standard_normal((500, 5))
    return policy, X_new


# -- probabilities are valid ---------------------------------------------------------------


@pytest.mark.parametrize("explore", [True, False])
def test_probabilities_are_finite_non_negative_and_sum_to_one(planted, explore):
    policy, X_new = planted
    P = policy.probabilities(X_new, explore=explore)
    assert P.shape == (500, 8)
    assert np.all(np.isfinite(P))
    assert np.all(P >= 0)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("explore", [True, False])
def test_ineligible_actions_get_exactly_zero(planted, explore):
    policy, X_new = planted
    rng = np.random.default_rng(3)
    eligible = rng.random((500, 8)) < 0.4
    eligible[:, 2] = False  # the best action for half the rows
    eligible[np.arange(500), rng.choice([0, 1, 3, 4, 5, 6, 7], 500)] = True  # one or more a row
    P = policy.probabilities(X_new, eligible=eligible, explore=explore)
    assert np.all(P[~eligible] == 0.0)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)


def test_explore_gives_every_eligible_action_positive_probability(planted):
    policy, X_new = planted
    eligible = np.ones((500, 8), dtype=bool)
    eligible[:250, 5] = False
    P = policy.probabilities(X_new, eligible=eligible, explore=True)
    assert np.all(P[eligible] > 0)
    # The epsilon floor: at least epsilon / #eligible for each eligible action.
    floor = policy.epsilon / eligible.sum(axis=1, keepdims=True)
    assert np.all(P[eligible] >= np.broadcast_to(floor, P.shape)[eligible] - 1e-12)


def test_exploit_policy_has_no_exploration(planted):
    policy, X_new = planted
    P = policy.probabilities(X_new, explore=False)
    assert np.all((P == 0) | (P == 1))


def test_row_without_eligible_action_raises(planted):
    policy, X_new = planted
    eligible = np.ones((500, 8), dtype=bool)
    eligible[7] = False
    with pytest.raises(ValueError, match="no eligible action"):
        policy.probabilities(X_new, eligible=eligible)


def test_eligible_of_wrong_shape_raises(planted):
    policy, X_new = planted
    with pytest.raises(ValueError, match="eligible must have shape"):
        policy.probabilities(X_new, eligible=np.ones((500, 7), dtype=bool))


# -- learning ------------------------------------------------------------------------------


def test_recovers_planted_best_action_from_uniform_logs(planted):
    policy, X_new = planted
    clear = np.abs(X_new[:, 0]) > 0.2  # leave out contexts where 2 and 5 nearly tie
    best = np.where(X_new[:, 0] > 0, 2, 5)[clear]
    chosen = policy.probabilities(X_new[clear], explore=False).argmax(axis=1)
    assert np.mean(chosen == best) > 0.97
    # Thompson sampling already concentrates on the right action.
    P = policy.probabilities(X_new[clear], explore=True)
    assert np.mean(P[np.arange(len(best)), best]) > 0.7


def _confounded_logs(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """Skewed logs where the naive per-action mean picks the wrong action.

    A trait the learner does not see (u) makes debtors convert ten times more often. The legacy
    policy sent action 0 to 90% of the u=1 debtors and action 1 to 90% of the u=0 ones. Action 1
    is better by 5 points for everyone, but the naive mean credits action 0 with the u=1
    debtors' conversions. Only the propensities reveal the skew.
    """
    rng = np.random.default_rng(seed)
    u = rng.random(n) < 0.5
    X = rng.standard_normal((n, 3))  # observed features carry no signal
    p_action0 = np.where(u, 0.9, 0.1)
    actions = (rng.random(n) >= p_action0).astype(int)
    propensities = np.where(actions == 0, p_action0, 1.0 - p_action0)
    base = np.where(u, 0.40, 0.04)
    rewards = (rng.random(n) < base + 0.05 * (actions == 1)).astype(float)
    return X, actions, rewards, propensities


def test_skewed_logs_recover_the_best_action_only_with_propensities():
    X, a, r, prop = _confounded_logs(20_000, seed=4)
    X_new = np.random.default_rng(5).standard_normal((200, 3))

    naive_means = [r[a == k].mean() for k in (0, 1)]
    assert np.argmax(naive_means) == 0  # the naive answer is wrong

    ignoring = fit_policy(X, a, r, np.ones_like(prop), n_actions=2, random_state=0)
    assert np.all(ignoring.probabilities(X_new, explore=False)[:, 0] == 1.0)

    policy = fit_policy(X, a, r, prop, n_actions=2, random_state=0)
    assert np.all(policy.probabilities(X_new, explore=False)[:, 1] == 1.0)
    # And its estimates are close to the truth for the population (0.22 and 0.27).
    est = policy.expected_rewards(X_new).mean(axis=0)
    np.testing.assert_allclose(est, [0.22, 0.27], atol=0.03)


def _feature_actions() -> np.ndarray:
    """Four actions: (tone A/B) x (channel SMS/e-mail), one-hot."""
    return np.array(
        [
            [1, 0, 1, 0],  # 0: tone A, SMS
            [1, 0, 0, 1],  # 1: tone A, e-mail
            [0, 1, 1, 0],  # 2: tone B, SMS
            [0, 1, 0, 1],  # 3: tone B, e-mail  (never logged)
        ],
        dtype=float,
    )


def test_action_features_transfer_to_an_action_with_no_logs():
    rng = np.random.default_rng(6)
    n = 12_000
    F = _feature_actions()
    X = rng.standard_normal((n, 2))
    actions = rng.integers(0, 3, n)  # action 3 is never logged
    # Tone B and e-mail each help when x0 > 0 and hurt when x0 < 0: action 3 is best for x0 > 0.
    effect = np.sign(X[:, 0]) * (F[actions, 1] + F[actions, 3])
    p = 1 / (1 + np.exp(-(-2.5 + 0.9 * effect)))
    rewards = (rng.random(n) < p).astype(float)
    prop = np.full(n, 1 / 3)
    X_new = np.column_stack([np.abs(rng.standard_normal(300)) + 0.3, rng.standard_normal(300)])

    with_features = fit_policy(X, actions, rewards, prop, n_actions=4, action_features=F)
    chosen = with_features.probabilities(X_new, explore=False).argmax(axis=1)
    assert np.mean(chosen == 3) > 0.95

    without = fit_policy(X, actions, rewards, prop, n_actions=4)
    chosen_without = without.probabilities(X_new, explore=False).argmax(axis=1)
    assert np.mean(chosen_without == 3) < 0.05


def test_never_logged_action_without_features_is_explored():
    X, a, r, prop = _uniform_logs(3000, 4, 8, seed=7)
    keep = a != 6
    policy = fit_policy(X[keep], a[keep], r[keep], prop[keep], n_actions=8)
    P = policy.probabilities(X[:50], explore=True)
    assert np.all(P[:, 6] > 0)
    assert np.all(np.isfinite(P))


def test_rewards_above_one_are_learned_in_their_own_units():
    rng = np.random.default_rng(8)
    n = 6000
    X = rng.standard_normal((n, 2))
    a = rng.integers(0, 3, n)
    amount = np.array([50.0, 120.0, 80.0])
    rewards = amount[a] * (rng.random(n) < 0.1)
    policy = fit_policy(X, a, rewards, np.full(n, 1 / 3), n_actions=3)
    assert np.all(policy.probabilities(X[:20], explore=False)[:, 1] == 1.0)
    np.testing.assert_allclose(
        policy.expected_rewards(X[:2000]).mean(axis=0), amount * 0.1, rtol=0.25
    )


# -- determinism and persistence -----------------------------------------------------------


def test_same_random_state_gives_the_same_policy():
    X, a, r, prop = _uniform_logs(3000, 4, 6, seed=9)
    X_new = np.random.default_rng(10).standard_normal((100, 4))
    P1 = fit_policy(X, a, r, prop, n_actions=6, random_state=3).probabilities(X_new)
    P2 = fit_policy(X, a, r, prop, n_actions=6, random_state=3).probabilities(X_new)
    np.testing.assert_array_equal(P1, P2)


def test_probabilities_of_a_row_do_not_depend_on_its_batch(planted):
    policy, X_new = planted
    batch = policy.probabilities(X_new[:50], explore=True)
    single = np.vstack([policy.probabilities(X_new[i : i + 1], explore=True) for i in range(50)])
    np.testing.assert_allclose(batch, single, atol=1e-12)


def test_rows_sharing_eligible_actions_get_what_each_gets_alone():
    """Many actions, few eligible per row (the gathered draws): rows with the same eligible
    set are drawn together, so a batch mixing shared and unique sets, shuffled, must give
    each row exactly what it gets on its own, and sets differing only in their last
    eligible action must not be mixed up."""
    rng = np.random.default_rng(7)
    n_actions, d = 40, 4
    features = (rng.random((n_actions, 6)) < 0.4).astype(float)
    X = rng.standard_normal((3000, d))
    a = rng.integers(0, n_actions, 3000)
    r = (rng.random(3000) < 0.05 + 0.1 * (a % 4 == 0) * (X[:, 0] > 0)).astype(float)
    policy = fit_policy(
        X, a, r, np.full(3000, 1 / n_actions), n_actions=n_actions, action_features=features
    )
    shared = rng.random((3, n_actions)) < 0.25
    nested = np.zeros((2, n_actions), dtype=bool)
    nested[0, [0, 1]] = nested[1, [0, 1, 2]] = True  # the same columns gathered, in order
    el = np.vstack([shared[rng.integers(0, 3, 60)], np.repeat(nested, 10, axis=0)])
    el = np.vstack([el, rng.random((20, n_actions)) < 0.2])
    el[~el.any(axis=1), 0] = True
    order = rng.permutation(el.shape[0])
    el = el[order]
    Xn = np.random.default_rng(8).standard_normal((el.shape[0], d))
    assert 2 * el.sum(axis=1).max() <= n_actions  # the gathered path
    batch = policy.probabilities(Xn, eligible=el)
    alone = np.vstack([policy.probabilities(Xn[i : i + 1], eligible=el[i : i + 1])
                       for i in range(el.shape[0])])  # fmt: skip
    np.testing.assert_array_equal(batch, alone)
    assert np.all((batch > 0) == el)


def test_to_bytes_round_trip_gives_identical_probabilities(planted):
    policy, X_new = planted
    restored = Policy.from_bytes(policy.to_bytes())
    for explore in (True, False):
        np.testing.assert_array_equal(
            restored.probabilities(X_new, explore=explore),
            policy.probabilities(X_new, explore=explore),
        )
    assert restored.meta == policy.meta


def test_from_bytes_rejects_garbage():
    with pytest.raises(ValueError, match="not a policy archive"):
        Policy.from_bytes(b"definitely not an npz archive")


# -- edge cases ----------------------------------------------------------------------------


def test_no_rows_gives_uniform_exploit_policy():
    policy = fit_policy(np.zeros((0, 3)), [], [], [], n_actions=4)
    P = policy.probabilities(np.ones((2, 3)), explore=False)
    np.testing.assert_allclose(P, 0.25)
    eligible = np.array([[True, False, True, False], [False, False, False, True]])
    P = policy.probabilities(np.ones((2, 3)), eligible=eligible, explore=True)
    assert np.all(P[~eligible] == 0) and np.all(P[eligible] > 0)


def test_single_action_always_gets_probability_one():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((100, 2))
    policy = fit_policy(X, np.zeros(100, int), rng.random(100) < 0.2, np.ones(100), n_actions=1)
    for explore in (True, False):
        np.testing.assert_array_equal(policy.probabilities(X, explore=explore), 1.0)


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_constant_rewards_give_uniform_exploit_policy(value):
    rng = np.random.default_rng(12)
    X = rng.standard_normal((500, 3))
    a = rng.integers(0, 5, 500)
    policy = fit_policy(X, a, np.full(500, value), np.full(500, 0.2), n_actions=5)
    np.testing.assert_allclose(policy.probabilities(X[:10], explore=False), 0.2)
    P = policy.probabilities(X[:10], explore=True)
    assert np.all(np.isfinite(P)) and np.all(P > 0)


def test_wide_contexts_and_many_actions_fit_quickly():
    rng = np.random.default_rng(13)
    n, d, A = 1500, 1000, 200
    X = (rng.random((n, d)) < 0.02).astype(float)  # sparse-ish one-hot-like columns
    a = rng.integers(0, A, n)
    r = (rng.random(n) < 0.05).astype(float)
    F = rng.integers(0, 2, (A, 12)).astype(float)
    policy = fit_policy(X, a, r, np.full(n, 1 / A), n_actions=A, action_features=F)
    P = policy.probabilities(X[:64], explore=True)
    assert P.shape == (64, A)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(P > 0)


# -- input validation ----------------------------------------------------------------------


def _valid_inputs() -> dict[str, object]:
    rng = np.random.default_rng(14)
    return {
        "X": rng.standard_normal((20, 3)),
        "actions": rng.integers(0, 4, 20),
        "rewards": (rng.random(20) < 0.3).astype(float),
        "propensities": np.full(20, 0.25),
        "n_actions": 4,
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("X", np.zeros(20), "X must be a 2-D array"),
        ("X", np.full((20, 3), np.nan), "X contains NaN"),
        ("actions", np.zeros(19, int), "actions must have shape"),
        ("actions", np.full(20, 4), r"actions must be in \[0, n_actions=4\)"),
        ("actions", np.full(20, -1), r"actions must be in \[0, n_actions=4\)"),
        ("actions", np.full(20, 0.5), "actions must be integers"),
        ("rewards", np.full(20, -0.1), "rewards must be >= 0"),
        ("rewards", np.full(20, np.inf), "rewards contain NaN"),
        ("rewards", np.zeros(21), "rewards must have shape"),
        ("propensities", np.zeros(20), r"propensities must be in \(0, 1\]"),
        ("propensities", np.full(20, 1.5), r"propensities must be in \(0, 1\]"),
        ("propensities", np.full(20, np.nan), r"propensities must be in \(0, 1\]"),
        ("propensities", np.ones(3), "propensities must have shape"),
        ("n_actions", 0, "n_actions must be >= 1"),
        ("action_features", np.zeros((3, 2)), r"action_features must have shape \(n_actions=4"),
    ],
)
def test_invalid_inputs_raise_clear_errors(field, value, message):
    kwargs = _valid_inputs()
    kwargs[field] = value
    X = kwargs.pop("X")
    actions = kwargs.pop("actions")
    rewards = kwargs.pop("rewards")
    propensities = kwargs.pop("propensities")
    with pytest.raises(ValueError, match=message):
        fit_policy(X, actions, rewards, propensities, **kwargs)


def test_new_contexts_with_the_wrong_width_raise(planted):
    policy, _ = planted
    with pytest.raises(ValueError, match="policy was fitted on 5"):
        policy.probabilities(np.zeros((2, 4)))


# -- off-policy estimates ------------------------------------------------------------------


def test_snips_recovers_a_target_policy_value_from_uniform_logs():
    X, a, r, prop = _uniform_logs(20_000, 3, 8, seed=15)
    truth = _planted_p(X, 8)
    best = truth.argmax(axis=1)
    target = (a == best).astype(float)  # the planted best policy, deterministic
    est = snips_value(r, prop, target)
    true_value = truth.max(axis=1).mean()
    assert est.lower < true_value < est.upper
    assert est.upper - est.lower < 0.05
    uniform = snips_value(r, prop, np.full(len(a), 1 / 8))
    assert uniform.lower < truth.mean() < uniform.upper
    assert uniform.upper < est.lower


def test_dr_value_with_exact_reward_model_and_target():
    X, a, r, prop = _uniform_logs(20_000, 3, 8, seed=16)
    Q = _planted_p(X, 8)
    T = np.zeros_like(Q)
    T[np.arange(len(a)), Q.argmax(axis=1)] = 1.0
    est = dr_value(r, a, prop, T, Q)
    true_value = Q.max(axis=1).mean()
    assert est.lower < true_value < est.upper
    assert abs(est.value - true_value) < 0.01
    # A wrong reward model is corrected by the importance-weighted residuals.
    biased = dr_value(r, a, prop, T, np.clip(Q + 0.1, 0, 1))
    assert biased.lower < true_value < biased.upper


def test_off_policy_estimators_validate_inputs():
    with pytest.raises(ValueError, match=r"propensities must be in \(0, 1\]"):
        snips_value([1.0], [0.0], [1.0])
    with pytest.raises(ValueError, match="same length"):
        snips_value([1.0, 0.0], [0.5], [1.0])


def test_config_can_turn_off_importance_weighting():
    X, a, r, prop = _confounded_logs(20_000, seed=4)
    plain = fit_policy(X, a, r, prop, n_actions=2, config=LearnerConfig(propensity_power=0.0))
    assert np.all(plain.probabilities(X[:10], explore=False)[:, 0] == 1.0)


def test_config_from_a_mapping_checks_names_and_kinds():
    cfg = learner_config_from({"max_iter": 80, "power_grid": [0, 1]}, uniform_share=0.1)
    assert (cfg.max_iter, cfg.power_grid, cfg.uniform_share) == (80, (0, 1), 0.1)
    assert learner_config_from({"uniform_share": 0.0}, uniform_share=0.1).uniform_share == 0.0
    assert learner_config_from({}) == LearnerConfig()
    with pytest.raises(ValueError, match=r"not LearnerConfig fields: \['a', 'b'\]"):
        learner_config_from({"b": 1, "a": 2, "max_iter": 3})
    with pytest.raises(ValueError, match=r"max_iter must be like its default 250; got 1\.5"):
        learner_config_from({"max_iter": 1.5})
    with pytest.raises(ValueError, match="a mapping of LearnerConfig fields"):
        learner_config_from(["max_iter"])
    # A grid's values are of its kind: the search axes are indices.
    assert learner_config_from({"search_axes": [0, 1]}).search_axes == (0, 1)
    with pytest.raises(ValueError, match=r"search_axes must be like its default"):
        learner_config_from({"search_axes": [0, 1.5]})
