"""Bandit worlds with exactly known conversion probabilities, for ``bench/learner_offline.py``.

The **threshold world** is debtor-like but, unlike the debtor world of ``learner_offline.py``,
every effect depends on *observed* features only, so the best policy the features allow is the
true per-context argmax and the gap from uniform to it is exact. Its effects are nonlinear in
the context, as collections data are:

- age thresholds x channel (SMS / WhatsApp under 35, letters and e-mail over 60);
- balance thresholds x call to action (a plan above 3,000, pay now under 800, settle above
  10,000 for older debtors);
- channel x hour: the send bucket's distance to the debtor's usual active hour (a bump on the
  circle, stronger for SMS and WhatsApp);
- typology x tone: the empathetic tone only helps debtors whose emotional score exceeds 0.25,
  the firm tone hurts them and helps the willing;
- and linear effects (open rates per channel, stage, region).

Actions are tone x CTA x channel x send bucket with one-hot action features (plus channel x
bucket, as ``recommender.features.action_features`` does). ``size="36"`` is 3 x 2 x 3 x 2,
``size="300"`` is 5 x 3 x 4 x 5. A uniform and a skewed logger (a legacy rule: firm SMS in
the morning with pay now, plans for large balances) are provided.

Also the Open Bandit Dataset sample (``obd_logs``), read from an ``obp`` source tree when one is
given: the small random-logging and Bernoulli-Thompson-sampling samples it ships.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
from dataclasses import dataclass

import numpy as np

CONTEXT_NAMES = (
    ["age", "log_balance", "hour_sin", "hour_cos"]
    + [f"typology_{t}" for t in ("willing", "able", "organised", "emotional")]
    + [f"stage_{i}" for i in range(4)]
    + [f"region_{i}" for i in range(5)]
    + ["log_payments"]
    + [f"open_rate_{c}" for c in range(4)]
    + [f"noise_{i}" for i in range(8)]
)

SIZES = {"36": (3, 2, 3, 2), "300": (5, 3, 4, 5)}


@dataclass
class ThresholdWorld:
    """The action grid of one size and the functions that draw contexts and score actions."""

    size: str

    def __post_init__(self) -> None:
        self.n_tone, self.n_cta, self.n_channel, self.n_bucket = SIZES[self.size]
        self.combos = np.array(
            list(
                itertools.product(
                    range(self.n_tone),
                    range(self.n_cta),
                    range(self.n_channel),
                    range(self.n_bucket),
                )
            )
        )
        self.A = len(self.combos)
        # Send-bucket centre hours spread over the day (08-21 local).
        self.bucket_hour = np.linspace(9.0, 20.0, self.n_bucket)
        self.idio = np.random.default_rng(777).normal(0.0, 0.1, self.A)

    def action_features(self) -> np.ndarray:
        t, c, ch, b = self.combos.T
        parts = [
            np.eye(self.n_tone)[t],
            np.eye(self.n_cta)[c],
            np.eye(self.n_channel)[ch],
            np.eye(self.n_bucket)[b],
            np.eye(self.n_channel * self.n_bucket)[ch * self.n_bucket + b],
        ]
        return np.hstack(parts)

    def contexts(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 33) observed contexts (see CONTEXT_NAMES)."""
        age = np.clip(rng.normal(45.0, 15.0, n), 18.0, 90.0)
        balance = np.exp(rng.normal(7.6, 1.2, n))  # median ~2,000
        hour = (rng.normal(13.0, 4.0, n)) % 24.0  # usual active hour
        typ = np.tanh(rng.normal(0.0, 0.8, (n, 4)))
        stage = rng.integers(0, 4, n)
        region = rng.integers(0, 5, n)
        payments = np.log1p(rng.poisson(np.exp(0.5 + 0.8 * typ[:, 0])))
        opens = 1 / (1 + np.exp(-(rng.normal(-1.0, 1.0, (n, 4)) + 0.5 * typ[:, [0]])))
        return np.hstack(
            [
                age[:, None],
                np.log1p(balance)[:, None],
                np.sin(2 * np.pi * hour / 24)[:, None],
                np.cos(2 * np.pi * hour / 24)[:, None],
                typ,
                np.eye(4)[stage],
                np.eye(5)[region],
                payments[:, None],
                opens,
                rng.standard_normal((n, 8)),
            ]
        )

    def logit(self, X: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """True conversion logit of action ``actions[i]`` for context ``X[i]`` (same length)."""
        t, c, ch, b = self.combos[actions].T
        age = X[:, 0]
        balance = np.expm1(X[:, 1])
        hour = (np.arctan2(X[:, 2], X[:, 3]) * 24 / (2 * np.pi)) % 24
        willing, _able, organised, emotional = X[:, 4:8].T
        stage = X[:, 8:12].argmax(axis=1)
        region = X[:, 12:17].argmax(axis=1)
        opens = X[:, 18:22]
        z = -3.6 + np.array([0.3, 0.0, -0.3, -0.5])[stage] + 0.3 * willing + 0.15 * X[:, 17]
        emo = (emotional > 0.25).astype(float)
        tone = np.select(
            [t == 0, t == 1, t == 2, t == 3],
            [
                1.1 * emo - 0.35,  # empathetic
                -0.8 * emo + 0.6 * (willing > 0.3) - 0.1,  # firm
                0.4 * (age < 40) - 0.1,  # friendly (neutral in the small grid)
                0.4 * (age > 55) - 0.15,  # formal
            ],
            0.0,
        )
        cta = np.select(
            [c == 0, c == 1, c == 2],
            [
                0.6 * (balance < 800) - 0.1,  # pay now
                0.9 * (balance > 3000) - 0.3 + 0.3 * organised,  # plan
                0.8 * (balance > 10_000) * (age > 55) - 0.4,  # settle
            ],
            0.0,
        )
        young, old = (age < 35).astype(float), (age > 60).astype(float)
        chan = np.select(
            [ch == 0, ch == 1, ch == 2, ch == 3],
            [
                0.7 * young - 0.3 * old,
                0.6 * old - 0.1,
                0.6 * young - 0.4 * old - 0.1,
                0.5 * old - 0.3,
            ],
            0.0,
        )
        d = np.abs(hour - self.bucket_hour[b])
        d = np.minimum(d, 24 - d)
        bump = np.exp(-(d**2) / (2 * 1.5**2))
        strength = np.select([ch == 0, ch == 2], [1.0, 0.9], 0.4)
        timing = strength * (bump - 0.3)
        open_effect = 1.2 * (opens[np.arange(len(ch)), np.minimum(ch, 3)] - 0.3)
        region_tone = np.random.default_rng(4242).normal(0.0, 0.2, (5, 5))[region, t]
        return z + tone + cta + chan + timing + open_effect + region_tone + self.idio[actions]

    def true_table(self, X: np.ndarray) -> np.ndarray:
        """(m, A) true conversion probabilities."""
        m = X.shape[0]
        out = np.empty((m, self.A))
        for a in range(self.A):
            out[:, a] = 1 / (1 + np.exp(-self.logit(X, np.full(m, a))))
        return out

    def logging_probabilities(self, X: np.ndarray, kind: str) -> np.ndarray:
        """(n, A) logging probabilities: uniform, or a skewed legacy rule floored at 10%."""
        n = X.shape[0]
        if kind == "uniform":
            return np.full((n, self.A), 1.0 / self.A)
        t, c, ch, b = self.combos.T
        big = (np.expm1(X[:, 1]) > 3000).astype(float)[:, None]
        pref = (
            1.2 * (t == 1)
            + 0.8 * (c == 0)
            + 1.0 * (ch == 0)
            + 0.8 * (b == 0)
            + 1.2 * big * (c == 1)
            - 0.8 * big * (c == 0)
        )
        pref = np.broadcast_to(pref, (n, self.A)).astype(float)
        z = pref - pref.max(axis=1, keepdims=True)
        soft = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        return 0.9 * soft + 0.1 / self.A

    def logs(
        self, n: int, kind: str, rng: np.random.Generator, chunk: int = 100_000
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``n`` logged rows: contexts, actions, rewards, propensities (chunked: 1M x 300 fits)."""
        X = self.contexts(n, rng)
        acts = np.empty(n, dtype=np.int64)
        props = np.empty(n)
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            P = self.logging_probabilities(X[lo:hi], kind)
            u = rng.random(hi - lo)[:, None]
            a = np.minimum((P.cumsum(axis=1) < u).sum(axis=1), self.A - 1)
            acts[lo:hi] = a
            props[lo:hi] = P[np.arange(hi - lo), a]
        p = 1 / (1 + np.exp(-self.logit(X, acts)))
        rewards = (rng.random(n) < p).astype(float)
        return X, acts, rewards, props


# -- the Open Bandit Dataset sample ----------------------------------------------------------


def obd_logs(root: str, policy: str = "random", campaign: str = "all") -> dict[str, np.ndarray]:
    """The Open Bandit Dataset sample shipped in the ``obp`` source tree under ``root``.

    Returns contexts (user features one-hot plus the 20-odd affinity columns that vary), the
    item shown as the action (positions pooled), the click, the logged propensity and the item
    features (one-hot of the hashed categories plus the numeric one). Rows in time order.
    """
    path = os.path.join(root, "obp", "dataset", "obd", policy, campaign, f"{campaign}.csv")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows.sort(key=lambda r: r["timestamp"])
    user_cols = [k for k in rows[0] if k.startswith("user_feature_")]
    aff_cols = [k for k in rows[0] if k.startswith("user-item_affinity_")]
    onehots = []
    for col in user_cols:
        values = sorted({r[col] for r in rows})
        index = {v: i for i, v in enumerate(values)}
        onehots.append(np.eye(len(values))[[index[r[col]] for r in rows]])
    aff = np.array([[float(r[c]) for c in aff_cols] for r in rows])
    aff = aff[:, aff.std(axis=0) > 0]
    X = np.hstack([*onehots, aff])
    actions = np.array([int(r["item_id"]) for r in rows])
    clicks = np.array([float(r["click"]) for r in rows])
    props = np.array([float(r["propensity_score"]) for r in rows])
    items_path = os.path.join(root, "obp", "dataset", "obd", policy, campaign, "item_context.csv")
    with open(items_path, newline="") as fh:
        items = sorted(csv.DictReader(fh), key=lambda r: int(r["item_id"]))
    feats = [np.array([[float(r["item_feature_0"])] for r in items])]
    for col in ("item_feature_1", "item_feature_2", "item_feature_3"):
        values = sorted({r[col] for r in items})
        index = {v: i for i, v in enumerate(values)}
        feats.append(np.eye(len(values))[[index[r[col]] for r in items]])
    n_actions = len(items)
    assert math.isfinite(float(props.min())) and actions.max() < n_actions
    return {
        "X": X,
        "actions": actions,
        "rewards": clicks,
        "propensities": props,
        "action_features": np.hstack(feats),
        "n_actions": np.array(n_actions),
    }
