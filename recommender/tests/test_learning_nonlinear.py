"""The learner's nonlinear context basis, its relevance priors and its exploration floor
(``recommender/learning/``). Plain numpy, no database."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from recommender.learning import LearnerConfig, Policy, fit_policy

ACTION_FEATURES = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)  # tone, channel


def _uniform_logs(n: int, seed: int, truth) -> tuple[np.ndarray, ...]:
    """`n` uniform logs over the 4 actions of `ACTION_FEATURES`, five standard normal context
    columns, rewards drawn from `truth(X)` (each action's conversion probability)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    a = rng.integers(0, 4, n)
    p = truth(X)
    r = (rng.random(n) < p[np.arange(n), a]).astype(float)
    return X, a, r, np.full(n, 0.25), ACTION_FEATURES


def _sigmoid(logit: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-logit))


def _u_shaped_world(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """Uniform logs over 4 actions with two action features (tone, channel).

    Tone 1 converts better only for contexts far from the middle (|x0| > 1), tone 0 for the
    rest: no model linear in x0 can tell the two groups apart. Four noise columns.
    """
    return _uniform_logs(n, seed, _u_shaped_truth)


def _u_shaped_truth(X: np.ndarray) -> np.ndarray:
    far = (np.abs(X[:, 0]) > 1.0).astype(float)
    tone = np.array([0, 0, 1, 1])
    channel = np.array([0, 1, 0, 1])
    logit = -2.5 + 1.2 * (2 * far[:, None] - 1) * (2 * tone[None, :] - 1) + 0.2 * channel
    return 1 / (1 + np.exp(-logit))


def _value(P: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(np.sum(P * truth, axis=1)))


@pytest.fixture(scope="module")
def u_shaped() -> dict[str, object]:
    X, a, r, prop, F = _u_shaped_world(20_000, seed=1)
    X_new = np.random.default_rng(2).standard_normal((4000, 5))
    return {
        "learner": fit_policy(X, a, r, prop, n_actions=4, action_features=F),
        "linear": fit_policy(
            X, a, r, prop, n_actions=4, action_features=F, config=LearnerConfig(nonlinear_bins=0)
        ),
        "X_new": X_new,
        "truth": _u_shaped_truth(X_new),
    }


def test_nonlinear_context_effect_beats_the_linear_model(u_shaped):
    truth = u_shaped["truth"]
    ours = _value(u_shaped["learner"].probabilities(u_shaped["X_new"], explore=False), truth)
    linear = _value(u_shaped["linear"].probabilities(u_shaped["X_new"], explore=False), truth)
    uniform, best = truth.mean(), truth.max(axis=1).mean()
    assert u_shaped["learner"].meta["step_columns"] > 0
    assert u_shaped["linear"].meta["step_columns"] == 0
    # The linear model cannot separate |x0| > 1 from the rest; the step columns can.
    assert (ours - uniform) / (best - uniform) > 0.85
    assert ours - linear > 0.25 * (best - uniform), (ours, linear, uniform, best)


def test_a_linear_world_keeps_the_linear_model():
    # The simpler model wins ties: with effects linear in the context, the step columns are
    # not kept.
    tone = 2 * ACTION_FEATURES[None, :, 0] - 1
    X, a, r, p, F = _uniform_logs(20_000, 3, lambda X: _sigmoid(-2.5 + 0.8 * X[:, [0]] * tone))
    policy = fit_policy(X, a, r, p, n_actions=4, action_features=F)
    assert policy.meta["step_columns"] == 0


def test_deployed_policy_keeps_most_of_the_exploit_lift(u_shaped):
    # With the control arm's uniform traffic beside it, the policy arm explores by Thompson
    # sampling and a 1% floor: it keeps at least 85% of the exploit policy's lift over uniform.
    X, a, r, prop, F = _u_shaped_world(20_000, seed=1)
    deployed = fit_policy(
        X, a, r, prop, n_actions=4, action_features=F, config=LearnerConfig(uniform_share=0.1)
    )
    truth, X_new = u_shaped["truth"], u_shaped["X_new"]
    uniform = truth.mean()
    exploit = _value(deployed.probabilities(X_new, explore=False), truth)
    explore = _value(deployed.probabilities(X_new, explore=True), truth)
    assert (explore - uniform) >= 0.85 * (exploit - uniform), (explore, exploit, uniform)


def test_policy_floor_accounts_for_the_control_arm_but_never_reaches_zero(u_shaped):
    X, a, r, prop, F = _u_shaped_world(3000, seed=4)
    X_new = u_shaped["X_new"][:200]
    eligible = np.ones((200, 4), dtype=bool)
    eligible[::2, 3] = False
    for share, floor in ((0.0, 0.05), (0.02, 0.03), (0.1, 0.01), (1.0, 0.01)):
        cfg = LearnerConfig(uniform_share=share)
        policy = fit_policy(X, a, r, prop, n_actions=4, action_features=F, config=cfg)
        assert policy.epsilon == pytest.approx(floor)
        P = policy.probabilities(X_new, eligible=eligible, explore=True)
        n_eligible = eligible.sum(axis=1, keepdims=True)
        assert np.all(P[eligible] >= (floor / n_eligible * np.ones_like(P))[eligible] - 1e-12)
        assert np.all(P[~eligible] == 0.0)


def test_step_columns_round_trip_through_bytes(u_shaped):
    policy, X_new = u_shaped["learner"], u_shaped["X_new"][:300]
    restored = Policy.from_bytes(policy.to_bytes())
    assert restored.meta["step_columns"] == policy.meta["step_columns"]
    for explore in (False, True):
        np.testing.assert_array_equal(
            restored.probabilities(X_new, explore=explore),
            policy.probabilities(X_new, explore=explore),
        )


def test_a_format_1_archive_still_loads(u_shaped):
    # Models stored before the nonlinear basis (no step columns, no noise cap) keep working.
    linear, X_new = u_shaped["linear"], u_shaped["X_new"][:300]
    state = linear.state
    for name in ("basis_cols", "basis_knots", "own_var_beta", "own_var_const"):
        state.pop(name)
    meta = {**linear.meta, "format_version": 1}
    buf = io.BytesIO()
    raw_meta = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez_compressed(buf, __meta__=raw_meta, **state)
    old = Policy.from_bytes(buf.getvalue())
    np.testing.assert_array_equal(
        old.probabilities(X_new, explore=False), linear.probabilities(X_new, explore=False)
    )
    P = old.probabilities(X_new, explore=True)
    assert np.all(P > 0)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)


def test_knots_go_where_the_residuals_show_a_missing_step():
    # Tone 1 helps only above x0 > 0.7 (not a fixed quantile of a standard normal); four
    # noise columns. The knots are placed by a score test on the linear model's residuals:
    # one near 0.7 on column 0, none on the noise columns.
    tone = 2 * ACTION_FEATURES[None, :, 0] - 1
    X, a, r, p, F = _uniform_logs(
        40_000, 11, lambda X: _sigmoid(-2.5 + 1.0 * (X[:, [0]] > 0.7) * tone)
    )
    policy = fit_policy(X, a, r, p, n_actions=4, action_features=F)
    cols, knots = policy.state["basis_cols"], policy.state["basis_knots"]
    assert policy.meta["family"] == "nonlinear"
    assert set(cols.astype(int)) == {0}, (cols, knots)
    assert np.min(np.abs(knots - 0.7)) < 0.1, knots


def test_fixed_quantile_knots_remain_available(u_shaped):
    X, a, r, prop, F = _u_shaped_world(20_000, seed=1)
    cfg = LearnerConfig(knot_placement="quantile")
    policy = fit_policy(X, a, r, prop, n_actions=4, action_features=F, config=cfg)
    knots = policy.state["basis_knots"][policy.state["basis_cols"] == 0]
    # Knots among the 1/6 ... 5/6 quantiles of column 0 (those the evidence kept).
    quantiles = np.quantile(X[:, 0], np.arange(1, 6) / 6)
    assert knots.size and np.all(np.min(np.abs(knots[:, None] - quantiles), axis=1) < 1e-9)
    with pytest.raises(ValueError, match="knot_placement"):
        fit_policy(
            X, a, r, prop, n_actions=4, action_features=F,
            config=LearnerConfig(knot_placement="trees"),
        )  # fmt: skip


def test_evidence_set_priors_switch_off_irrelevant_features():
    # The "relevance" family (forced here): the interactions and per-action weights of noise
    # columns shrink to a few percent of the real interaction (the evidence keeps a noise
    # feature whose estimate happens to exceed its standard error, at about that size).
    rng = np.random.default_rng(5)
    n = 20_000
    X = rng.standard_normal((n, 8))
    F = np.array([[0.0], [1.0]])
    a = rng.integers(0, 2, n)
    logit = -2.0 + 0.8 * X[:, 0] * (2 * a - 1)
    r = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    cfg = LearnerConfig(nonlinear_bins=0, family_min_se=-np.inf)
    policy = fit_policy(X, a, r, np.full(n, 0.5), n_actions=2, action_features=F, config=cfg)
    assert policy.meta["family"] == "relevance"
    s = policy.state
    # Effective weight of each context column on the difference between the two actions.
    diff = s["W"][:, 0] * (s["action_design"][1, 0] - s["action_design"][0, 0])
    diff = np.abs(diff + s["U"][:, 1] - s["U"][:, 0])
    assert diff[0] > 0.5
    assert np.all(diff[1:] < 0.1 * diff[0]), diff
    assert np.sum(diff[1:]) < 0.15 * diff[0], diff
