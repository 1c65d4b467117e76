"""The learner's passes over its rows (``recommender/learning/model.py``) against the same
sums written row by row, and its gradient against the slope of its loss.

Plain numpy, no database. The passes sum per action block; these tests use logs with
actions that have no rows and an action whose rows span two blocks, in float64 and in
float32 (the precision the fit uses on large logs).
"""

from __future__ import annotations

import numpy as np
import pytest

from recommender.learning import LearnerConfig
from recommender.learning.model import (
    _build_data,
    _curvature,
    _effective,
    _likelihood_pass,
    _objective,
    _Shapes,
)

A, K = 12, 3


def _logs(n: int, d: int, dtype: type, seed: int = 0):
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, A - 2, n)  # the last two actions have no rows
    actions[: n // 3] = 4  # one long run, across chunks
    X = rng.normal(size=(n, d)).astype(dtype)
    y = (rng.random(n) < 0.2).astype(np.float64)
    prop = rng.uniform(0.05, 1.0, n)
    D = _build_data(X, actions, y, prop, A, LearnerConfig(), power=1.0)
    F = rng.normal(size=(A, K))
    shapes = _Shapes(d=d, k=K, A=A, u_cols=np.array([0, 2, 4, 7]))
    theta = rng.normal(0, 0.1, shapes.size)
    return D, F, shapes, theta


def _by_rows(D, const, beta):
    """The same quantities, one row at a time, in float64."""
    loss, g_beta, ra = 0.0, np.zeros(beta.shape), np.zeros(beta.shape[0])
    for i, a in enumerate(D.row_action):
        x = D.Xs[i].astype(np.float64)
        eta = float(np.clip(x @ beta[a] + const[a], -30, 30))
        loss += D.w[i] * (np.logaddexp(0.0, eta) - D.y[i] * eta)
        r = D.w[i] * (1 / (1 + np.exp(-eta)) - D.y[i])
        g_beta[a] += r * x
        ra[a] += r
    return loss, g_beta, ra


@pytest.mark.parametrize(("dtype", "rtol"), [(np.float64, 1e-10), (np.float32, 2e-4)])
def test_a_pass_sums_what_the_rows_sum(dtype, rtol):
    D, F, shapes, theta = _logs(n=4_500, d=300, dtype=dtype)  # blocks of up to 1,333 rows
    blocks = D.blocks()
    assert [b for b in blocks if b[0] == 4][1:]  # action 4's rows span blocks
    const, beta = _effective(shapes.unpack(theta), F, shapes)
    loss, g_beta, ra = _likelihood_pass(D, blocks, const, beta.astype(D.Xs.dtype))
    want = _by_rows(D, const, beta.astype(D.Xs.dtype))
    assert loss == pytest.approx(want[0], rel=rtol)
    np.testing.assert_allclose(g_beta, want[1], rtol=rtol, atol=rtol * np.abs(want[1]).max())
    np.testing.assert_allclose(ra, want[2], rtol=rtol, atol=rtol * np.abs(want[2]).max())
    assert not g_beta[-2:].any() and not ra[-2:].any()


def test_the_gradient_is_the_slope_of_the_loss():
    D, F, shapes, theta = _logs(n=2_000, d=250, dtype=np.float64, seed=1)
    prec = np.full(shapes.size, 2.0)
    blocks = D.blocks()
    _, grad = _objective(theta, D, F, shapes, prec, blocks)
    rng = np.random.default_rng(2)
    for j in rng.choice(shapes.size, 25, replace=False):
        step = np.zeros(shapes.size)
        step[j] = 1e-6
        up = _objective(theta + step, D, F, shapes, prec, blocks)[0]
        down = _objective(theta - step, D, F, shapes, prec, blocks)[0]
        assert grad[j] == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-6)


def test_the_curvature_sums_each_actions_rows():
    D, F, shapes, theta = _logs(n=4_500, d=300, dtype=np.float32, seed=3)
    prec = np.ones(shapes.size)
    _, sx2, sa = _curvature(D, F, shapes, prec, theta)
    const, beta = _effective(shapes.unpack(theta), F, shapes)
    want_sx2, want_sa = np.zeros((shapes.d, A)), np.zeros(A)
    for i, a in enumerate(D.row_action):
        x = D.Xs[i].astype(np.float64)
        mu = 1 / (1 + np.exp(-np.clip(x @ beta[a].astype(np.float32) + const[a], -30, 30)))
        s = D.w[i] * mu * (1 - mu)
        want_sx2[:, a] += s * x * x
        want_sa[a] += s
    np.testing.assert_allclose(sx2, want_sx2, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(sa, want_sa, rtol=1e-4, atol=1e-6)
