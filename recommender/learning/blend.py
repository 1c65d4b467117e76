"""`policy_blend`: one policy whose scores are a weighted mean of two policies' scores.

Retraining blends each night's fit with the live model (docs/recommender.md, "Models in
production"): the nightly fits of a small log differ from night to night far more than the
logs do (the prior scales and the model family are chosen again on a few hundred held-out
conversions), and a weighted mean of successive fits, an exponential moving average of the
reward model, keeps what they agree on.
"""

from __future__ import annotations

import numpy as np

from recommender.learning.policy import Policy

#: A step column whose largest effect on any action's score, per standard deviation of the
#: column, falls below this (in logits) is dropped from a blend: repeated blending halves an
#: old fit's columns night after night, and they would otherwise pile up.
PRUNE_LOGIT = 1e-3


def policy_blend(new: Policy, old: Policy, *, weight: float) -> Policy:
    """The policy scoring every action ``weight * new + (1 - weight) * old`` (logits of the
    reward estimates), on the raw context and the union of the two policies' step columns.

    Both must come from the same action space, action features, context width and reward
    scale (`ValueError` otherwise). The posterior variances that drive the Thompson draws, the
    draws themselves, the exploration floor and the metadata are the newer policy's (a
    nightly fit has seen the older fit's rows and more), the metadata with ``blend_weight``
    added; the older policy's own step columns get no noise. ``weight`` 1 gives the newer
    policy's scores, 0 the older one's.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1]; got {weight!r}")
    a, b = new.state, old.state
    if (new.n_features, new.n_actions) != (old.n_features, old.n_actions):
        raise ValueError(
            "policies of different shapes: "
            f"{(new.n_features, new.n_actions)} and {(old.n_features, old.n_actions)}"
        )
    G = a["action_design"]
    if G.shape != b["action_design"].shape or not np.allclose(G, b["action_design"]):
        raise ValueError("the two policies were fitted with different action features")
    if new.reward_scale != old.reward_scale:
        raise ValueError("the two policies were fitted on rewards of different scales")
    d = new.n_features
    cols, knots, mean, scale, where = _union(a, b, d)
    D, A, k = mean.size, new.n_actions, G.shape[1]
    out = {n: np.zeros_like(a[n]) for n in ("b0", "c", "b", "var_c", "var_b", "own_var_const")}
    out |= {n: np.zeros((D, *a[n].shape[1:])) for n in ("v", "W", "U", "var_W", "var_U")}
    out["own_var_beta"] = np.zeros((D, A))
    for s, w, idx in ((a, weight, where[0]), (b, 1.0 - weight, where[1])):
        # This policy's standardised columns in terms of the blend's: x_s = R x_c + delta.
        R = scale[idx] / s["x_scale"]
        delta = (mean[idx] - s["x_mean"]) / s["x_scale"]
        shift = delta @ s["U"] + ((delta @ s["W"]) @ G.T if k else 0.0)
        out["b0"] += w * (s["b0"] + delta @ s["v"])
        out["b"] += w * (s["b"] + shift)
        out["c"] += w * s["c"]
        out["v"][idx] += w * R * s["v"]
        out["W"][idx] += w * R[:, None] * s["W"]
        out["U"][idx] += w * R[:, None] * s["U"]
    _newer_spread(out, a, mean[where[0]], scale[where[0]], where[0])
    keep = _kept(out, G, d)
    state = {
        **a,
        **out,
        **{n: out[n][keep] for n in ("v", "W", "U", "var_W", "var_U", "own_var_beta")},
        "x_mean": mean[keep],
        "x_scale": scale[keep],
        "basis_cols": cols[keep[d:] - d].astype(np.float64),
        "basis_knots": knots[keep[d:] - d],
    }
    meta = dict(new.meta)
    meta["blend_weight"] = float(weight)
    return Policy(state, meta)


def _newer_spread(
    out: dict[str, np.ndarray],
    a: dict[str, np.ndarray],
    mean: np.ndarray,
    scale: np.ndarray,
    idx: np.ndarray,
) -> None:
    """The blend's posterior variances: the newer policy's (it saw the older one's rows and
    more), on the blend's columns (``mean`` and ``scale`` of its own columns, at ``idx``)."""
    G = a["action_design"]
    R = scale / a["x_scale"]
    d2 = ((mean - a["x_mean"]) / a["x_scale"]) ** 2
    spread = d2 @ a["var_U"] + ((d2 @ a["var_W"]) @ (G**2).T if G.shape[1] else 0.0)
    out["var_b"] += a["var_b"] + spread
    out["var_c"] += a["var_c"]
    out["own_var_const"] += a["own_var_const"]
    for name in ("var_W", "var_U", "own_var_beta"):
        out[name][idx] += R[:, None] ** 2 * a[name]


def _union(
    a: dict[str, np.ndarray], b: dict[str, np.ndarray], d: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The blend's step columns (the newer policy's, then the older one's not among them),
    their standardisation (the raw columns': the newer policy's), and where each policy's
    columns go in it."""
    pos: dict[tuple[int, float], int] = {}
    cols: list[int] = []
    knots: list[float] = []
    mean, scale = list(a["x_mean"][:d]), list(a["x_scale"][:d])
    where = []
    for s in (a, b):
        idx = list(range(d))
        for i, key in enumerate(zip(s["basis_cols"].astype(np.int64).tolist(),
                                    s["basis_knots"].tolist(), strict=True)):  # fmt: skip
            if key not in pos:
                pos[key] = d + len(cols)
                cols.append(key[0])
                knots.append(key[1])
                mean.append(s["x_mean"][d + i])
                scale.append(s["x_scale"][d + i])
            idx.append(pos[key])
        where.append(np.array(idx, dtype=np.int64))
    return (
        np.array(cols, dtype=np.int64),
        np.array(knots, dtype=np.float64),
        np.array(mean),
        np.array(scale),
        (where[0], where[1]),
    )


def _kept(out: dict[str, np.ndarray], G: np.ndarray, d: int) -> np.ndarray:
    """Every raw column, and the step columns whose largest effect on a score is at least
    `PRUNE_LOGIT` per standard deviation."""
    effect = np.abs(out["U"]).max(axis=1)
    if G.shape[1]:
        effect = np.maximum(effect, np.abs(out["W"] @ G.T).max(axis=1))
    keep = np.arange(effect.size) < d
    keep |= effect >= PRUNE_LOGIT
    return np.flatnonzero(keep)
