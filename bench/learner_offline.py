"""Offline evaluation of the recommender's bandit learner (``recommender/learning/``).

What it is for: tuning and defending the learner on data we can score exactly. It builds bandit
logs from (1) scikit-learn's bundled classification data and ``make_classification`` (actions =
classes, reward 1 if the action is the true class) and (2) a synthetic debtor-like world with 36
actions described by tone x CTA x channel x send-hour features and low conversion rates. Each is
logged by a uniform and by a skewed logging policy. It then scores the exploit policies
(``explore=False``) of our learner and of the baselines on held-out contexts with the *true*
expected reward, and prints a table (mean +- std over seeds) and fit times.

Run (2 cores; about 20 minutes, most of it Vowpal Wabbit and the debtor world's reference
policy; ``OMP_NUM_THREADS=1`` keeps scikit-learn's gradient boosting from fighting for cores)::

    OMP_NUM_THREADS=1 .venv/bin/python bench/learner_offline.py --seeds 5
    .venv/bin/python bench/learner_offline.py --timing      # fit and decision times only
    .venv/bin/python bench/learner_offline.py --quick --no-vw --only debtor \
        --variant 'se0:{"loosen_se":0}'                     # an ablation of LearnerConfig

Results are recorded in ``docs/recommender-learning.md``.

Baselines: per-action logistic regression (direct method), one logistic model on context x
action-feature interactions, Vowpal Wabbit ``--cb_adf`` (if the ``vowpalwabbit`` package is
installed; it is not a project dependency), uniform random, and the oracle (the best policy:
the true argmax in the simulator, a full-information logistic regression for classification).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits, load_iris, load_wine, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from recommender.learning import LearnerConfig, fit_policy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from learner_worlds import ThresholdWorld, obd_logs

try:
    import vowpalwabbit
except ImportError:  # optional baseline
    vowpalwabbit = None

warnings.filterwarnings("ignore", category=ConvergenceWarning)


# --------------------------------------------------------------------------------------------
# Problems: logs for training, true reward for evaluation
# --------------------------------------------------------------------------------------------


@dataclass
class Problem:
    """One bandit problem: training logs plus the true reward table of the test contexts."""

    name: str
    X: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    propensities: np.ndarray
    n_actions: int
    action_features: np.ndarray | None
    X_test: np.ndarray
    true_test: np.ndarray  # (m, A) expected reward of each action for each test context
    oracle_value: float  # value of the best policy (see module docstring)
    #: Value of the best policy the observed features allow (estimated; debtor world only).
    feature_oracle_value: float | None = None


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(probs.shape[0])[:, None]
    return np.minimum((probs.cumsum(axis=1) < u).sum(axis=1), probs.shape[1] - 1)


def classification_problem(
    name: str, X: np.ndarray, y: np.ndarray, logging: str, seed: int, repeats: int
) -> Problem:
    """Supervised data as a bandit: actions are classes, reward 1 for the true class.

    Half the rows are kept for testing. Each training context is logged ``repeats`` times.
    The skewed logger is a softmax over a weak classifier (fit on 10% of the labels) plus a
    random per-class bias, floored at 5% uniform: it prefers some actions in some contexts and
    some actions everywhere, as a previous production policy would.
    """
    rng = np.random.default_rng(seed)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.5, random_state=seed, stratify=y)
    K = int(y.max()) + 1
    Xl = np.repeat(X_tr, repeats, axis=0)
    yl = np.repeat(y_tr, repeats)
    if logging == "uniform":
        P = np.full((Xl.shape[0], K), 1.0 / K)
    else:
        sc = StandardScaler().fit(X_tr)
        idx = rng.choice(len(y_tr), size=max(K * 3, len(y_tr) // 10), replace=False)
        while len(np.unique(y_tr[idx])) < 2:
            idx = rng.choice(len(y_tr), size=len(idx), replace=False)
        weak = LogisticRegression(C=0.05, max_iter=300).fit(sc.transform(X_tr[idx]), y_tr[idx])
        dec = np.zeros((Xl.shape[0], K))
        dec[:, weak.classes_] = weak.decision_function(sc.transform(Xl)).reshape(len(Xl), -1)
        dec = (dec - dec.mean()) / (dec.std() + 1e-9)
        bias = rng.normal(0.0, 1.5, size=K)
        P = 0.95 * _softmax(1.5 * dec + bias) + 0.05 / K
    a = _draw(P, rng)
    r = (a == yl).astype(float)
    p = P[np.arange(len(a)), a]
    true = np.zeros((len(y_te), K))
    true[np.arange(len(y_te)), y_te] = 1.0
    sc = StandardScaler().fit(X_tr)
    full = LogisticRegression(C=1.0, max_iter=2000).fit(sc.transform(X_tr), y_tr)
    oracle = float(np.mean(full.predict(sc.transform(X_te)) == y_te))
    return Problem(f"{name}/{logging}", Xl, a, r, p, K, None, X_te, true, oracle)


# -- the synthetic debtor world ---------------------------------------------------------------

TONES = ("empathetic", "firm", "neutral")
CTAS = ("pay_now", "payment_plan")
CHANNELS = ("sms", "email", "whatsapp")
HOURS = ("morning", "evening")


def debtor_actions() -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """36 actions (tone x CTA x channel x hour) and their one-hot action features."""
    combos = [
        (t, c, ch, h)
        for t in range(len(TONES))
        for c in range(len(CTAS))
        for ch in range(len(CHANNELS))
        for h in range(len(HOURS))
    ]
    F = np.zeros((len(combos), len(TONES) + len(CTAS) + len(CHANNELS) + len(HOURS)))
    for i, (t, c, ch, h) in enumerate(combos):
        F[i, t] = 1
        F[i, 3 + c] = 1
        F[i, 5 + ch] = 1
        F[i, 8 + h] = 1
    return F, combos


def debtor_population(
    n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contexts (n, 37), true conversion probability of the 36 actions, hidden emotional trait.

    Hidden traits (willing, able, organised, emotional; channel affinities; works days) drive
    conversion; the observed features are noisy proxies of them (payments, plan adherence,
    opens per channel, balance, stage, region, language) plus pure-noise columns.
    """
    willing, able, organised, emotional = rng.standard_normal((4, n))
    affinity = rng.normal(0.0, 0.6, size=(n, 3))
    worker = (rng.random(n) < 0.5 + 0.2 * np.tanh(able)).astype(float)
    region = rng.integers(0, 5, n)
    stage = rng.integers(0, 4, n)
    language = rng.choice(3, size=n, p=[0.7, 0.2, 0.1])
    cols = [
        np.eye(5)[region],
        np.eye(4)[stage],
        np.eye(3)[language],
        np.log1p(rng.poisson(np.exp(0.6 * willing + 0.3 * able)))[:, None],  # payments
        (1 / (1 + np.exp(-(organised + 0.5 * rng.standard_normal(n)))))[:, None],  # adherence
        (-0.7 * able + 0.5 * rng.standard_normal(n) + 7.5)[:, None],  # log balance
        (np.log1p(rng.gamma(2.0, 30.0 * np.exp(-0.4 * willing))))[:, None],  # days past due
        np.log1p(rng.poisson(np.exp(0.8 * affinity + 0.5))),  # opens per channel (3)
        np.log1p(rng.poisson(np.exp(0.5 * affinity + 0.3 * emotional[:, None] - 0.5))),  # clicks
        np.log1p(rng.poisson(np.exp(0.7 * emotional - 0.5)))[:, None],  # replies
        (worker + 0.7 * rng.standard_normal(n))[:, None],  # daytime-inactive signal
        (emotional + 1.0 * rng.standard_normal(n))[:, None],  # survey/typology score
        rng.standard_normal((n, 12)),  # noise
    ]
    X = np.hstack(cols)
    _, combos = debtor_actions()
    logit = np.empty((n, len(combos)))
    stage_base = np.array([-3.3, -3.7, -4.1, -3.5])[stage]
    region_tone = np.random.default_rng(12345).normal(0.0, 0.25, size=(5, 3))
    idio = np.random.default_rng(54321).normal(0.0, 0.15, size=len(combos))
    for i, (t, c, ch, h) in enumerate(combos):
        z = stage_base + 0.5 * willing + 0.4 * able
        z = z + [0.6 * emotional - 0.1, -0.5 * willing + 0.3 * organised - 0.3 * emotional, 0.0][t]
        z = z + [0.5 * able, -0.6 * able - 0.1][c]
        z = z + affinity[:, ch] + [0.0, -0.2, 0.1][ch]
        z = z + [0.0, 0.7 * worker - 0.35][h]
        if ch == 1 and h == 0:
            z = z + 0.3 * organised
        z = z + region_tone[region, t] + idio[i]
        logit[:, i] = z
    return X, 1.0 / (1.0 + np.exp(-logit)), emotional


def debtor_problem(logging: str, seed: int, n_train: int, n_test: int = 20_000) -> Problem:
    """Logs from the debtor world under a uniform or a skewed (partly confounded) logger.

    The skewed logger is a rule-based legacy policy: mostly firm SMS in the morning with a pay
    now CTA, less so late in the journey, and agents picked the empathetic tone for debtors they
    judged emotional -- a trait the learner does not see, so only the propensities reveal it.
    """
    rng = np.random.default_rng(seed)
    X, true, emotional = debtor_population(n_train, rng)
    X_te, true_te, _ = debtor_population(n_test, rng)
    F, combos = debtor_actions()
    A = len(combos)
    if logging == "uniform":
        P = np.full((n_train, A), 1.0 / A)
    else:
        stage = X[:, 5:9].argmax(axis=1)
        pref = np.zeros((n_train, A))
        for i, (t, c, ch, h) in enumerate(combos):
            s = 1.2 * (t == 1) + 0.8 * (c == 0) + 1.0 * (ch == 0) + 0.8 * (h == 0)
            s = s + 0.6 * (stage >= 2) * (c == 1) + 1.2 * (t == 0) * emotional
            pref[:, i] = s
        P = 0.9 * _softmax(pref) + 0.1 / A
    a = _draw(P, rng)
    r = (rng.random(n_train) < true[np.arange(n_train), a]).astype(float)
    p = P[np.arange(n_train), a]
    oracle = float(true_te.max(axis=1).mean())
    feature_oracle = _feature_oracle(seed, X_te, true_te)
    return Problem(f"debtor/{logging}", X, a, r, p, A, F, X_te, true_te, oracle, feature_oracle)


_FEATURE_ORACLE: dict[int, float] = {}


def _feature_oracle(seed: int, X_te: np.ndarray, true_te: np.ndarray) -> float:
    """Value of argmax_a E[p(x, a) | x], with E[. | x] fitted on full information.

    Per action, a gradient-boosted regression of the true conversion probability on the
    observed features of 40,000 fresh debtors, scored on the seed's test population (cached per
    seed: both loggers of a seed share their test population).
    """
    if seed not in _FEATURE_ORACLE:
        from sklearn.ensemble import HistGradientBoostingRegressor

        X_fit, true_fit, _ = debtor_population(40_000, np.random.default_rng(10_000 + seed))
        est = np.zeros_like(true_te)
        for a in range(true_te.shape[1]):
            m = HistGradientBoostingRegressor(max_iter=100, random_state=0)
            est[:, a] = m.fit(X_fit, true_fit[:, a]).predict(X_te)
        _FEATURE_ORACLE[seed] = float(true_te[np.arange(len(est)), est.argmax(axis=1)].mean())
    return _FEATURE_ORACLE[seed]


def threshold_problem(size: str, logging: str, seed: int, n_train: int) -> Problem:
    """Logs from the threshold world (``learner_worlds.ThresholdWorld``): every effect is a
    function of observed features, so the best policy the features allow is the exact
    per-context argmax of the true probabilities."""
    world = ThresholdWorld(size)
    rng = np.random.default_rng(1_000 + seed)
    X, a, r, p = world.logs(n_train, logging, rng)
    X_te = world.contexts(20_000 if world.A <= 100 else 10_000, np.random.default_rng(50 + seed))
    true_te = world.true_table(X_te)
    best = float(true_te.max(axis=1).mean())
    name = f"thr{size}/{logging}/{_rows_label(n_train)}"
    F = world.action_features()
    return Problem(name, X, a, r, p, world.A, F, X_te, true_te, best, best)


def _rows_label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


# --------------------------------------------------------------------------------------------
# Learners: each returns an (m, A) score table for the test contexts (argmax = policy)
# --------------------------------------------------------------------------------------------


def learn_ours(pb: Problem, seed: int, **cfg: object) -> np.ndarray:
    pol = fit_policy(
        pb.X,
        pb.actions,
        pb.rewards,
        pb.propensities,
        n_actions=pb.n_actions,
        action_features=pb.action_features,
        random_state=seed,
        config=LearnerConfig(**cfg) if cfg else None,
    )
    return pol.probabilities(pb.X_test, explore=False)


def learn_ours_deployed(pb: Problem, seed: int, **cfg: object) -> np.ndarray:
    """The deployed policy's probabilities (explore=True): valued as an expectation.

    Configured as retraining configures it with the default control arm beside it
    (``uniform_share=0.1``): its own uniform floor is then the 1% minimum.
    """
    cfg = {"uniform_share": 0.1, **cfg}
    pol = fit_policy(
        pb.X,
        pb.actions,
        pb.rewards,
        pb.propensities,
        n_actions=pb.n_actions,
        action_features=pb.action_features,
        random_state=seed,
        config=LearnerConfig(**cfg),
    )
    return pol.probabilities(pb.X_test, explore=True)


#: Methods whose output is a stochastic policy (valued as sum_a P(a|x) r(x, a)), not scores.
STOCHASTIC = {"ours_deployed"}


def learn_per_action_lr(pb: Problem, seed: int) -> np.ndarray:
    """Direct method: one LogisticRegression (C=1, standardised X) per action."""
    sc = StandardScaler().fit(pb.X)
    Xs, Xt = sc.transform(pb.X), sc.transform(pb.X_test)
    out = np.zeros((len(Xt), pb.n_actions))
    overall = pb.rewards.mean() if len(pb.rewards) else 0.0
    for a in range(pb.n_actions):
        rows = pb.actions == a
        y = pb.rewards[rows] > 0
        if rows.sum() == 0:
            out[:, a] = overall
        elif y.all() or not y.any():
            out[:, a] = y.mean()
        else:
            m = LogisticRegression(C=1.0, max_iter=500).fit(Xs[rows], y)
            out[:, a] = m.predict_proba(Xt)[:, 1]
    return out


def _action_design(pb: Problem) -> np.ndarray:
    if pb.action_features is not None:
        return pb.action_features
    return np.eye(pb.n_actions)


def _interactions(Xs: np.ndarray, F: np.ndarray, acts: np.ndarray) -> np.ndarray:
    x1 = np.hstack([np.ones((len(Xs), 1)), Xs])
    f1 = np.hstack([np.ones((len(acts), 1)), F[acts]])
    return (x1[:, :, None] * f1[:, None, :]).reshape(len(Xs), -1)


def learn_interaction_lr(pb: Problem, seed: int) -> np.ndarray:
    """One LogisticRegression (C=1) on [1, x] x [1, f_a] (one-hot actions if no features)."""
    sc = StandardScaler().fit(pb.X)
    Xs, Xt = sc.transform(pb.X), sc.transform(pb.X_test)
    F = _action_design(pb)
    m = LogisticRegression(C=1.0, max_iter=1000).fit(
        _interactions(Xs, F, pb.actions), pb.rewards > 0
    )
    out = np.zeros((len(Xt), pb.n_actions))
    for a in range(pb.n_actions):
        out[:, a] = m.decision_function(_interactions(Xt, F, np.full(len(Xt), a)))
    return out


def learn_hgb(pb: Problem, seed: int) -> np.ndarray:
    """Direct method with gradient boosting: one ``HistGradientBoostingClassifier`` on
    [x, f_a] (one-hot actions if no features), early stopping on 10% of the rows."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    F = _action_design(pb)
    y = pb.rewards > 0
    if y.all() or not y.any():
        return np.zeros((len(pb.X_test), pb.n_actions))
    m = HistGradientBoostingClassifier(
        max_iter=500,
        learning_rate=0.1,
        max_leaf_nodes=31,
        l2_regularization=1.0,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
        random_state=seed,
    ).fit(np.hstack([pb.X, F[pb.actions]]).astype(np.float32), y)
    out = np.zeros((len(pb.X_test), pb.n_actions))
    for a in range(pb.n_actions):
        Z = np.hstack([pb.X_test, np.broadcast_to(F[a], (len(pb.X_test), F.shape[1]))])
        out[:, a] = m.predict_proba(Z.astype(np.float32))[:, 1]
    return out


def vw_shared(x: np.ndarray) -> str:
    """A context as VW's shared namespace `s` (zeros left out)."""
    return "shared |s " + " ".join(f"x{j}:{v:.5g}" for j, v in enumerate(x) if v != 0)


def vw_action_lines(F: np.ndarray, with_id: bool) -> list[str]:
    """Each action's features as VW's action namespace `a` (plus an `id<a>` feature)."""
    lines = []
    for a in range(F.shape[0]):
        feats = " ".join(f"f{j}:{v:.5g}" for j, v in enumerate(F[a]) if v != 0)
        lines.append(f"|a {'id' + str(a) if with_id else ''} {feats}")
    return lines


def learn_vw(pb: Problem, seed: int, args: str = "--cb_adf -q sa") -> np.ndarray:
    """Vowpal Wabbit contextual bandit with action-dependent features (one pass)."""
    sc = StandardScaler().fit(pb.X)
    Xs, Xt = sc.transform(pb.X), sc.transform(pb.X_test)
    F = _action_design(pb)
    acts = vw_action_lines(F, with_id=pb.action_features is not None)
    vw = vowpalwabbit.Workspace(f"{args} --quiet --random_seed {seed}")
    for i in range(len(Xs)):
        a = int(pb.actions[i])
        lines = list(acts)
        lines[a] = f"0:{-pb.rewards[i]:.6g}:{pb.propensities[i]:.6g} " + lines[a]
        vw.learn([vw_shared(Xs[i]), *lines])
    out = np.zeros((len(Xt), pb.n_actions))
    for i in range(len(Xt)):
        out[i] = -np.asarray(vw.predict([vw_shared(Xt[i]), *acts]))
    vw.finish()
    return out


def policy_value(scores: np.ndarray, true: np.ndarray) -> float:
    """True value of the argmax policy of ``scores`` (ties split evenly)."""
    best = scores.max(axis=1, keepdims=True)
    top = scores >= best - 1e-12 * np.maximum(1, np.abs(best))
    return float(np.mean(np.sum(top * true, axis=1) / top.sum(axis=1)))


# --------------------------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------------------------


def problems(
    seed: int, quick: bool, only: str = "", rows: tuple[int, ...] = (10_000, 50_000)
) -> Iterator[Problem]:
    """The problems of one seed, built lazily (``only``: comma-separated name prefixes;
    ``rows``: the log sizes of the threshold worlds)."""

    def make_class12() -> tuple[np.ndarray, np.ndarray]:
        return make_classification(
            n_samples=6000,
            n_features=50,
            n_informative=20,
            n_redundant=10,
            n_classes=12,
            n_clusters_per_class=1,
            class_sep=1.0,
            random_state=100 + seed,
        )

    datasets: dict[str, tuple[Callable[[], tuple[np.ndarray, np.ndarray]], int]] = {
        "digits": (lambda: load_digits(return_X_y=True), 3),
        "wine": (lambda: load_wine(return_X_y=True), 5),
        "iris": (lambda: load_iris(return_X_y=True), 5),
        "make_class12": (make_class12, 2),
    }
    wanted = [p for p in only.split(",") if p]
    for logging in ("uniform", "skewed"):
        for name in [*datasets, "debtor", "thr36", "thr300"]:
            full = f"{name}/{logging}"
            if wanted and not any(full.startswith(p) or p.startswith(full) for p in wanted):
                continue
            if name.startswith("thr"):
                for n in rows:
                    label = f"{full}/{_rows_label(n)}"
                    if not wanted or any(label.startswith(p) for p in wanted):
                        yield threshold_problem(name[3:], logging, seed, n)
            elif name == "debtor":
                yield debtor_problem(logging, seed, n_train=10_000 if quick else 30_000)
            else:
                load, repeats = datasets[name]
                X, y = load()
                yield classification_problem(name, X, y, logging, seed, repeats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smaller debtor logs")
    ap.add_argument("--no-vw", action="store_true", help="skip Vowpal Wabbit")
    ap.add_argument("--only", default="", help="comma-separated problem name prefixes")
    ap.add_argument("--methods", default="", help="comma-separated method names")
    ap.add_argument("--timing", action="store_true", help="only the fit-time benchmark")
    ap.add_argument(
        "--rows", default="10000,50000", help="log sizes of the threshold worlds (thr36, thr300)"
    )
    ap.add_argument("--seed0", type=int, default=0, help="first seed")
    ap.add_argument(
        "--obd",
        default="",
        metavar="PATH",
        help="an unpacked obp source tree: score the methods on its Open Bandit Dataset sample "
        "(off-policy, SNIPS on the newest 30%% of each logging policy's rows) and stop",
    )
    ap.add_argument(
        "--before",
        default="",
        metavar="PATH",
        help="a directory holding an earlier learner as the package `learning_before` "
        "(e.g. `git archive <commit> recommender/learning`, renamed): adds it as a baseline",
    )
    ap.add_argument(
        "--max-cells",
        type=float,
        default=4e7,
        help="skip VW (rows x actions) and the interaction LR (rows x columns) above this",
    )
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:JSON",
        help='extra "ours" variant with LearnerConfig overrides, e.g. noclip:{"weight_clip":1e9}',
    )
    args = ap.parse_args()
    if args.timing:
        timing(tuple(int(float(r)) for r in args.rows.split(",")))
        return
    if args.obd:
        obd_report(args.obd, args.before)
        return
    methods: dict[str, Callable[[Problem, int], np.ndarray]] = {
        "ours": learn_ours,
        "ours_deployed": learn_ours_deployed,
        # Ablation: the model linear in the context (no step columns).
        "ours_linear": lambda pb, s: learn_ours(pb, s, nonlinear_bins=0),
        "per_action_lr": learn_per_action_lr,
        "interaction_lr": learn_interaction_lr,
        "hgb_dm": learn_hgb,
    }
    if args.before:
        methods.update(_before_methods(args.before))
    if args.methods:
        methods = {k: v for k, v in methods.items() if k in args.methods.split(",")}
    for spec in args.variant:
        vname, _, js = spec.partition(":")
        overrides = json.loads(js)
        for key, val in overrides.items():
            if isinstance(val, list):
                overrides[key] = tuple(val)
        methods[vname] = lambda pb, s, o=overrides: learn_ours(pb, s, **o)
        methods[vname + "_deployed"] = lambda pb, s, o=overrides: learn_ours_deployed(pb, s, **o)
        STOCHASTIC.add(vname + "_deployed")
    if vowpalwabbit is not None and not args.no_vw:
        methods["vw_cb_adf"] = learn_vw
        # VW with a smaller learning rate did better on the debtor world than its default.
        methods["vw_cb_adf_l0.1"] = lambda pb, s: learn_vw(pb, s, "--cb_adf -q sa -l 0.1")
    elif not args.no_vw:
        print("vowpalwabbit is not installed: VW baseline skipped", file=sys.stderr)
    results: dict[str, dict[str, list[float]]] = {}
    fit_seconds: dict[str, list[float]] = {}
    rows = tuple(int(float(r)) for r in args.rows.split(","))
    for seed in range(args.seed0, args.seed0 + args.seeds):
        for pb in problems(seed, args.quick, args.only, rows):
            row = results.setdefault(pb.name, {})
            row.setdefault("uniform", []).append(float(pb.true_test.mean()))
            row.setdefault("oracle", []).append(pb.oracle_value)
            fo = pb.feature_oracle_value
            row.setdefault("feat_oracle", []).append(pb.oracle_value if fo is None else fo)
            gap = max(row["feat_oracle"][-1] - row["uniform"][-1], 1e-12)
            took = {}
            for name, fn in methods.items():
                if _too_big(name, pb, args.max_cells):
                    row.setdefault(name, []).append(float("nan"))
                    continue
                t0 = time.perf_counter()
                scores = fn(pb, seed)
                took[name] = time.perf_counter() - t0
                fit_seconds.setdefault(name, []).append(took[name])
                value = (
                    float(np.mean(np.sum(scores * pb.true_test, axis=1)))
                    if name in STOCHASTIC
                    else policy_value(scores, pb.true_test)
                )
                row.setdefault(name, []).append(value)
                print(
                    f"  seed {seed} {pb.name} {name}: {row[name][-1]:.4f} "
                    f"({(row[name][-1] - row['uniform'][-1]) / gap:.1%} of the gap) "
                    f"in {took[name]:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
            print(
                f"seed {seed} {pb.name:24s} n={len(pb.actions):6d} "
                + " ".join(f"{k}={v[-1]:.4f}" for k, v in row.items()),
                file=sys.stderr,
                flush=True,
            )
    report(results, fit_seconds, args)


def obd_report(root: str, before: str = "") -> None:
    """The Open Bandit Dataset sample (10,000 rows per logging policy, 80 items, clicks are
    rare): fit on the oldest 70%, then the SNIPS value of each exploit policy on the newest 30%
    with its 95% interval. With a few dozen clicks the intervals are wide; it checks that
    nothing breaks on real logged data and how the methods rank, not who wins."""
    from recommender.learning import snips_value

    methods: dict[str, Callable[[Problem, int], np.ndarray]] = {
        "ours": learn_ours,
        "per_action_lr": learn_per_action_lr,
        "interaction_lr": learn_interaction_lr,
        "hgb_dm": learn_hgb,
    }
    if before:
        methods["before"] = _before_methods(before)["before"]
    print(
        "| logging policy | rows (train / test) | clicks (train / test) | method "
        "| SNIPS value [95%] |"
    )
    print("|---|---|---|---|---|")
    for logging in ("random", "bts"):
        logs = obd_logs(root, logging)
        n = logs["rewards"].size
        cut = int(0.7 * n)
        tr, te = slice(0, cut), slice(cut, n)
        A = int(logs["n_actions"])
        pb = Problem(
            f"obd/{logging}", logs["X"][tr], logs["actions"][tr], logs["rewards"][tr],
            logs["propensities"][tr], A, logs["action_features"], logs["X"][te],
            np.zeros((n - cut, A)), 0.0,
        )  # fmt: skip
        a_te, r_te, p_te = logs["actions"][te], logs["rewards"][te], logs["propensities"][te]
        head = (
            f"| {logging} | {cut:,} / {n - cut:,} | {int(pb.rewards.sum())} / {int(r_te.sum())} |"
        )
        print(f"{head} logged | {r_te.mean():.4f} |", flush=True)
        for name, fn in methods.items():
            scores = fn(pb, 0)
            best = scores.max(axis=1, keepdims=True)
            top = scores >= best - 1e-12 * np.maximum(1, np.abs(best))
            probs = top / top.sum(axis=1, keepdims=True)
            est = snips_value(r_te, p_te, probs[np.arange(n - cut), a_te])
            print(
                f"{head} {name} | {est.value:.4f} [{est.lower:.4f}, {est.upper:.4f}] |",
                flush=True,
            )


def _before_methods(path: str) -> dict[str, Callable[[Problem, int], np.ndarray]]:
    """An earlier learner's exploit and deployed policies (its defaults) as baselines."""
    sys.path.insert(0, path)
    import learning_before

    def fit(pb: Problem, seed: int):
        return learning_before.fit_policy(
            pb.X, pb.actions, pb.rewards, pb.propensities, n_actions=pb.n_actions,
            action_features=pb.action_features, random_state=seed,
        )  # fmt: skip

    STOCHASTIC.add("before_deployed")
    return {
        "before": lambda pb, s: fit(pb, s).probabilities(pb.X_test, explore=False),
        "before_deployed": lambda pb, s: fit(pb, s).probabilities(pb.X_test, explore=True),
    }


def _too_big(method: str, pb: Problem, max_cells: float) -> bool:
    """VW's per-row Python loop and the dense interaction design grow with rows x actions and
    rows x (d + 1)(k + 1); above ``max_cells`` they are skipped (reported as nan)."""
    n = len(pb.actions)
    if method.startswith("vw"):
        return n * pb.n_actions > max_cells
    if method == "interaction_lr":
        k = pb.action_features.shape[1] if pb.action_features is not None else pb.n_actions
        return n * (pb.X.shape[1] + 1) * (k + 1) > 10 * max_cells
    return False


def report(
    results: dict[str, dict[str, list[float]]],
    fit_seconds: dict[str, list[float]],
    args: argparse.Namespace,
) -> None:
    cols = list(next(iter(results.values())).keys())
    print(f"\nPolicy value of explore=False policies on held-out contexts, {args.seeds} seeds")
    print("(mean +- std; classification: accuracy; debtor: mean true conversion probability)")
    head = f"| {'problem':22s} | " + " | ".join(f"{c:>15s}" for c in cols)
    print(head + " | gap closed (ours) |")
    print("|" + "---|" * (len(cols) + 2))
    for name, row in results.items():
        cells = [f"{np.mean(row[c]):.4f}+-{np.std(row[c]):.4f}" for c in cols]
        gap = ""
        if "ours" in row:
            u, o, v = (np.array(row[c]) for c in ("uniform", "feat_oracle", "ours"))
            gap = f"{np.mean((v - u) / np.maximum(o - u, 1e-12)):.0%}"
        print(f"| {name:22s} | " + " | ".join(f"{c:>15s}" for c in cells) + f" | {gap:>17s} |")
    print("\nShare of the gap from uniform to the best policy the features allow (mean over seeds)")
    methods = [c for c in cols if c not in ("uniform", "oracle", "feat_oracle")]
    print("| problem | " + " | ".join(methods) + " |")
    print("|" + "---|" * (len(methods) + 1))
    for name, row in results.items():
        u, o = np.array(row["uniform"]), np.array(row["feat_oracle"])
        shares = [np.mean((np.array(row[m]) - u) / np.maximum(o - u, 1e-12)) for m in methods]
        print(f"| {name} | " + " | ".join(f"{v:.1%}" for v in shares) + " |")
    print("\nmean fit+predict seconds per problem: ")
    print(", ".join(f"{k}={np.mean(v):.2f}" for k, v in fit_seconds.items()))


def timing(rows: tuple[int, ...], sizes: tuple[str, ...] = ("36",)) -> None:
    """Fit time of fit_policy on threshold-world logs (uniform logging) of each size in
    ``rows``: wall-clock and CPU seconds (on a shared machine the CPU time is the figure to
    compare), the model chosen, and the time to compute explore=True probabilities for
    10,000 contexts at once and for one context at a time.
    """
    print(
        "| rows | d | actions | fit wall (s) | fit CPU (s) | step columns | "
        "explore=True for 10k rows (s) | one context, explore=True: p50 / p99 (ms) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size in sizes:
        world = ThresholdWorld(size)
        F = world.action_features()
        for n in rows:
            X, a, r, p = world.logs(n, "uniform", np.random.default_rng(0))
            t0, c0 = time.perf_counter(), time.process_time()
            pol = fit_policy(X, a, r, p, n_actions=world.A, action_features=F, random_state=0)
            fit_s, fit_c = time.perf_counter() - t0, time.process_time() - c0
            t0 = time.perf_counter()
            pol.probabilities(X[:10_000], explore=True)
            pr_s = time.perf_counter() - t0
            one = []
            for i in range(300):
                t0 = time.perf_counter()
                pol.probabilities(X[i : i + 1], explore=True)
                one.append(1000 * (time.perf_counter() - t0))
            p50, p99 = np.percentile(one, [50, 99])
            print(
                f"| {n:,} | {X.shape[1]} | {world.A} | {fit_s:.1f} | {fit_c:.1f} | "
                f"{pol.meta['step_columns']} | {pr_s:.2f} | {p50:.2f} / {p99:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
