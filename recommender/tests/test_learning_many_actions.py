"""The learner with hundreds of actions that share features (``recommender/learning/``).

Plain numpy, no database. The worlds are built like the recommender's: actions are
tone x CTA x channel x send-hour combinations described by one-hot action features, rewards
are rare, and each action has only a few dozen logged rows, so what is learned about an action
must come mostly from the actions that share its features.
"""

from __future__ import annotations

import itertools

import numpy as np

from recommender.learning import LearnerConfig, fit_policy


def _grid_world(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """120 actions (tone 4 x CTA 3 x channel 5 x hour 2) and their true reward logits.

    Additive main effects of the four attributes (what a fixed-action policy can exploit) plus a
    small per-action deviation; no context effect, so the best policy is a fixed action.
    """
    rng = np.random.default_rng(seed)
    levels = (4, 3, 5, 2)
    combos = list(itertools.product(*(range(k) for k in levels)))
    F = np.zeros((len(combos), sum(levels)))
    offsets = np.cumsum((0, *levels[:-1]))
    effects = [rng.normal(0.0, 0.45, k) for k in levels]
    logit = np.full(len(combos), -3.4)
    for i, combo in enumerate(combos):
        for block, level in enumerate(combo):
            F[i, offsets[block] + level] = 1.0
            logit[i] += effects[block][level]
    logit += rng.normal(0.0, 0.1, len(combos))
    return F, logit


def _value(policy_probs: np.ndarray, p_true: np.ndarray) -> float:
    return float(policy_probs @ p_true)


def test_exploit_policy_with_many_sparse_actions_is_close_to_the_best_fixed_action():
    # ~50 rows and ~2 conversions per action: per-action means are mostly noise, the shared
    # features are not. The exploit policy must get at least most of the way from uniform to
    # the best fixed action, and not lose to the best action by logged mean.
    gaps = []
    for seed in range(3):
        F, logit = _grid_world(seed)
        p_true = 1 / (1 + np.exp(-logit))
        A = F.shape[0]
        rng = np.random.default_rng(100 + seed)
        n = 6000
        X = rng.standard_normal((n, 10))  # context that does not matter
        a = rng.integers(0, A, n)
        r = (rng.random(n) < p_true[a]).astype(float)
        policy = fit_policy(
            X, a, r, np.full(n, 1 / A), n_actions=A, action_features=F, random_state=seed
        )
        P = policy.probabilities(X[:50], explore=False).mean(axis=0)
        ours = _value(P, p_true)
        uniform, best = p_true.mean(), p_true.max()
        means = np.bincount(a, weights=r, minlength=A) / np.maximum(np.bincount(a, minlength=A), 1)
        by_mean = p_true[np.argmax(means)]
        assert ours >= by_mean - 0.002, (seed, ours, by_mean)
        gaps.append((ours - uniform) / (best - uniform))
    assert np.mean(gaps) >= 0.85, gaps


def test_planted_best_action_is_found_under_a_skewed_logging_policy():
    # The legacy policy sent 70% of the traffic to three mediocre actions and spread the rest
    # over the other 117 (about 75 rows each). The best action's features (good elsewhere too)
    # and its own few rows must still win over the heavily logged ones.
    F, logit = _grid_world(7)
    A = F.shape[0]
    best = int(np.argmax(logit))
    order = np.argsort(logit)
    favoured = order[A // 2 : A // 2 + 3]  # mediocre actions
    logging = np.full(A, 0.3 / (A - 3))
    logging[favoured] = 0.7 / 3
    p_true = 1 / (1 + np.exp(-logit))
    rng = np.random.default_rng(8)
    n = 30_000
    X = rng.standard_normal((n, 6))
    a = rng.choice(A, n, p=logging)
    r = (rng.random(n) < p_true[a]).astype(float)
    policy = fit_policy(X, a, r, logging[a], n_actions=A, action_features=F, random_state=0)
    chosen = policy.probabilities(X[:200], explore=False).argmax(axis=1)
    assert np.bincount(chosen, minlength=A).argmax() == best
    # Elsewhere it errs only among the top tenth of the actions, never towards the logged ones.
    assert np.all(p_true[chosen] >= np.quantile(p_true, 0.9)), p_true[chosen]
    assert np.mean(p_true[chosen]) >= p_true[best] - 0.01


def test_fit_reaches_the_optimum_within_its_iteration_budget():
    # Hundreds of weakly identified per-action effects next to tightly shrunk interactions:
    # the default iteration budget must give the same model as a much larger one, otherwise the
    # order of close actions depends on where the optimiser happened to stop.
    F, logit = _grid_world(3)
    A = F.shape[0]
    rng = np.random.default_rng(4)
    n = 5000
    X = rng.standard_normal((n, 15))
    a = rng.integers(0, A, n)
    p_true = 1 / (1 + np.exp(-(logit[a] + 0.4 * X[:, 0] * F[a, 0])))
    r = (rng.random(n) < p_true).astype(float)
    kwargs = {"n_actions": A, "action_features": F, "random_state": 0}
    fixed = {"prior_grid": (0.03,), "intercept_grid": (1.0,), "power_grid": (1.0,)}
    short = fit_policy(X, a, r, np.full(n, 1 / A), config=LearnerConfig(**fixed), **kwargs)
    long = fit_policy(
        X, a, r, np.full(n, 1 / A), config=LearnerConfig(**fixed, max_iter=3000), **kwargs
    )
    X_new = rng.standard_normal((200, 15))
    np.testing.assert_allclose(
        np.log(short.expected_rewards(X_new)), np.log(long.expected_rewards(X_new)), atol=0.02
    )
