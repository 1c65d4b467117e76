"""`policy_blend`: one policy scoring actions by a weighted mean of two policies' logits."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.learning import Policy, fit_policy, policy_blend

A, D = 6, 5
FEATURES = np.c_[np.eye(3)[np.arange(A) % 3], np.arange(A) // 3]


def _fit(rows: int, seed: int = 0, features=FEATURES) -> Policy:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, D))
    actions = rng.integers(0, A, rows)
    logit = -2.0 + X[:, 0] * (actions % 3 - 1)
    rewards = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(float)
    return fit_policy(
        X, actions, rewards, np.full(rows, 1 / A), n_actions=A, action_features=features
    )


def _with_step_column(policy: Policy, col: int, knot: float, effect: float) -> Policy:
    """`policy` with one more step column, 1[x_col > knot], of the given effect."""
    s = policy.state
    s["basis_cols"], s["basis_knots"] = np.r_[s["basis_cols"], col], np.r_[s["basis_knots"], knot]
    s["x_mean"], s["x_scale"] = np.r_[s["x_mean"], 0.4], np.r_[s["x_scale"], 0.49]
    s["v"] = np.r_[s["v"], 0.2]
    for name in ("W", "var_W"):
        s[name] = np.r_[s[name], np.full((1, s[name].shape[1]), effect)]
    for name in ("U", "var_U", "own_var_beta"):
        s[name] = np.r_[s[name], effect * np.arange(A)[None, :]]
    return Policy(s, policy.meta)


def _logits(policy: Policy, X: np.ndarray) -> np.ndarray:
    q = policy.expected_rewards(X)
    return np.log(q / (1 - q))


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.5, 1.0])
def test_a_blend_scores_every_action_by_the_weighted_mean_of_the_two_logits(weight):
    new = _with_step_column(_fit(3000), col=1, knot=0.3, effect=0.3)
    old = _with_step_column(_fit(2000, seed=1), col=2, knot=-0.5, effect=0.2)
    X = np.random.default_rng(5).normal(size=(400, D))
    blend = policy_blend(new, old, weight=weight)
    expected = weight * _logits(new, X) + (1 - weight) * _logits(old, X)
    assert np.allclose(_logits(blend, X), expected, atol=1e-9)
    # Both policies' step columns are in the blend unless their weight is nil.
    s = blend.state
    kept = sorted(zip(s["basis_cols"].tolist(), s["basis_knots"].tolist(), strict=True))
    expected_cols = {0.0: [(2.0, -0.5)], 1.0: [(1.0, 0.3)]}.get(weight, [(1.0, 0.3), (2.0, -0.5)])
    assert kept == expected_cols
    assert blend.meta["blend_weight"] == weight


def test_with_all_the_weight_on_the_newer_policy_it_decides_as_that_one():
    new, old = _fit(3000), _with_step_column(_fit(2000, seed=1), col=1, knot=0.0, effect=0.5)
    X = np.random.default_rng(6).normal(size=(300, D))
    blend = policy_blend(new, old, weight=1.0)
    for explore in (False, True):
        assert np.array_equal(
            blend.probabilities(X, explore=explore), new.probabilities(X, explore=explore)
        )
    assert blend.state["basis_cols"].size == 0  # the older one's column is dropped


def test_a_blend_is_stored_and_read_back_like_any_policy():
    blend = policy_blend(_fit(3000), _with_step_column(_fit(2000, 1), 1, 0.3, 0.3), weight=0.5)
    X = np.random.default_rng(7).normal(size=(200, D))
    back = Policy.from_bytes(blend.to_bytes())
    assert np.array_equal(back.probabilities(X), blend.probabilities(X))
    assert np.allclose(back.expected_rewards(X), blend.expected_rewards(X))


def test_policies_that_cannot_be_blended_are_refused():
    new = _fit(2000)
    with pytest.raises(ValueError, match="weight"):
        policy_blend(new, new, weight=1.5)
    with pytest.raises(ValueError, match="action features"):
        policy_blend(new, _fit(2000, features=FEATURES[:, ::-1]), weight=0.5)
    other = Policy({**new.state, "b": np.zeros(A + 1)}, {**new.meta, "n_actions": A + 1})
    with pytest.raises(ValueError, match="different shapes"):
        policy_blend(new, other, weight=0.5)
