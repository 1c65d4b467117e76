"""Recommender figures: fit time, decision latency, planning throughput,
and policy value on the simulator.

Usage:

    .venv/bin/python bench/recommender.py [--only fit,latency,throughput,plan,value]
        [--plan-accounts 100000] [--sim-debtors 2000] [--sim-days 30] [--sim-seed 1]
        [--sim-logs /tmp/sim-logs.npz]
        [--database-url postgres://postgres@127.0.0.1:5432/collections_bench_rec]

Parts (each runs in its own process):

- fit: `learning.fit_policy` on 50,000 and 200,000 logged rows with 36 actions (synthetic
  logistic world, skewed logging policy), seconds per fit.
- latency: one account's decision (`recommender.policy.choose`, 24 candidates) with a model
  loaded from its stored bytes, p50/p99 over 3,000 decisions.
- throughput: the policy part of planning 100,000 accounts (batches of 500, 24-108 candidates
  each): accounts decided per second.
- plan: `plan_contacts` end to end on PostgreSQL (a throwaway database, dropped and created):
  --plan-accounts due accounts, a live model, a 36-variant library; accounts planned per
  second, including compliance checks, rendering and the outbox writes.
- value: a simulator run (its own throwaway database) exports every decision with the
  world's true value of each eligible action; policies fitted on the first 70% of decisions
  are scored exactly on the last 30%: the learner (exploit), uniform random, the best fixed
  action (by logged IPS value, and the truly best one in hindsight), three standard
  baselines (per-action logistic regression; one logistic regression on context x
  action-feature interactions, C=1 and C by 3-fold CV; Vowpal Wabbit `--cb_adf`, plain, with
  `-q sa` and with `-q sa -l 0.1`, skipped if `vowpalwabbit` is not installed), and the
  oracle. --sim-seed picks the world; --sim-logs keeps the export (or reuses it) so that
  learner changes can be compared on the same decisions.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from benchdb import recreate_database as _recreate_database
from benchdb import sampling_profiler as _sampling_profiler

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET = "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def _django(settings: str = "collections_site.settings.base") -> None:
    os.environ.setdefault("SECRET_KEY", SECRET)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings)
    import logging

    import django

    django.setup()
    logging.disable(logging.WARNING)


# --- fit ------------------------------------------------------------------------------------


def synthetic_logs(n: int, n_actions: int = 36, d: int = 30, seed: int = 0):
    """A logistic world (fixed) with action features (3 tones x 3 CTAs x 4 hours) and a
    skewed logging policy; `seed` draws the rows. Returns the logs, the action features and
    the true reward of every action for every row."""
    world = np.random.default_rng(12345)
    feats = np.zeros((n_actions, 10))
    for a in range(n_actions):
        feats[a, a % 3] = feats[a, 3 + (a // 3) % 3] = feats[a, 6 + (a // 9) % 4] = 1
    W = world.normal(0, 0.1, (d, feats.shape[1]))
    base = world.normal(0, 0.4, n_actions) - 2.6
    skew = np.exp(world.normal(0, 1.0, n_actions))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    logits = base + (X @ W) @ feats.T
    truth = 1 / (1 + np.exp(-logits))
    prop_all = 0.5 * skew / skew.sum() + 0.5 / n_actions
    actions = rng.choice(n_actions, n, p=prop_all)
    rewards = (rng.random(n) < truth[np.arange(n), actions]).astype(float)
    return X, actions, rewards, prop_all[actions], feats, truth


def part_fit(args) -> None:
    from recommender import learning

    for n in (50_000, 200_000):
        X, a, r, p, feats, _ = synthetic_logs(n)
        start = time.perf_counter()
        policy = learning.fit_policy(X, a, r, p, n_actions=36, action_features=feats)
        seconds = time.perf_counter() - start
        Xt, *_, tt = synthetic_logs(20_000, seed=9)
        P = policy.probabilities(Xt, explore=False)
        value = float((P * tt).sum(axis=1).mean())
        best = tt.max(axis=1).mean()
        print(
            f"fit: {n:>7,} rows x 36 actions: {seconds:6.1f} s "
            f"(exploit value {value:.4f}; uniform {tt.mean():.4f}; best {best:.4f})"
        )


# --- latency and throughput -----------------------------------------------------------------


def _loaded_model():
    """A 325-action model fitted on synthetic contexts, round-tripped through its bytes."""
    from recommender import features as F
    from recommender import learning
    from recommender.policy import LoadedModel

    rng = np.random.default_rng(1)
    n = 20_000
    X = rng.normal(size=(n, F.N_FEATURES))
    actions = rng.integers(0, F.N_ACTIONS, n)
    rewards = (rng.random(n) < 0.03 + 0.05 * (X[:, 3] > 1)).astype(float)
    policy = learning.fit_policy(
        X, actions, rewards, np.full(n, 1 / F.N_ACTIONS), n_actions=F.N_ACTIONS,
        action_features=F.action_features(),
    )  # fmt: skip
    policy = learning.Policy.from_bytes(policy.to_bytes())
    return LoadedModel.build(id=1, label="bench", policy=policy, summary=F.summarise_contexts(X))


def _candidates(rng: np.random.Generator, k: int):
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from recommender import features as F
    from recommender.policy import Candidate

    at = datetime(2026, 3, 10, 13, tzinfo=UTC)
    out = []
    for j in range(k):
        tone = ("friendly", "empathetic", "formal", "firm")[int(rng.integers(4))]
        cta = ("pay_in_full", "payment_plan", "contact_us")[int(rng.integers(3))]
        channel = ("email", "sms", "letter")[int(rng.integers(3))]
        bucket = int(rng.choice(F.buckets_for(channel)))
        v = SimpleNamespace(pk=j, tone=SimpleNamespace(slug=tone), cta=cta, channel=channel)
        out.append(Candidate(v, channel, bucket, at, F.archetype_of(v, bucket)))
    return out


def part_latency(args) -> None:
    _django("collections_site.settings.test")  # before the imports: features imports models
    from recommender import features as F
    from recommender.policy import choose

    model = _loaded_model()
    rng = np.random.default_rng(2)
    X = rng.normal(size=(1, F.N_FEATURES))
    cands = [_candidates(rng, 24)]
    # As a long-running worker would after start-up: move what is loaded out of the cyclic
    # garbage collector's reach, so a full collection does not land inside a decision.
    import gc

    gc.collect()
    gc.freeze()
    wall, cpu = [], []
    for _ in range(3000):
        t, c = time.perf_counter(), time.thread_time()
        choose(X=X, candidates=cands, model=model, control_share=0.1, rng=rng)
        wall.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    ms, cpu_ms = np.array(wall) * 1000, np.array(cpu) * 1000
    load = os.getloadavg()[0]
    print(
        f"latency: one account, 24 candidates, {F.N_ACTIONS} actions: "
        f"wall p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms; "
        f"CPU p50 {np.percentile(cpu_ms, 50):.2f} ms, p99 {np.percentile(cpu_ms, 99):.2f} ms "
        f"(load average {load:.1f} on {os.cpu_count()} cores)"
    )


def part_throughput(args) -> None:
    _django("collections_site.settings.test")  # before the imports: features imports models
    from recommender import features as F
    from recommender.policy import choose

    model = _loaded_model()
    rng = np.random.default_rng(3)
    pool = [_candidates(rng, int(k)) for k in rng.integers(24, 109, 200)]
    total, batch = 100_000, 500
    X = rng.normal(size=(batch, F.N_FEATURES))
    start = time.perf_counter()
    for lo in range(0, total, batch):
        cands = [pool[(lo + i) % len(pool)] for i in range(batch)]
        choose(X=X, candidates=cands, model=model, control_share=0.1, rng=rng)
    seconds = time.perf_counter() - start
    print(
        f"throughput (policy part): {total:,} accounts in {seconds:.1f} s = "
        f"{total / seconds:,.0f} accounts/s"
    )


# --- plan_contacts end to end (PostgreSQL) --------------------------------------------------


PLAN_NOW = "2026-03-10 13:00Z"


def part_plan(args) -> None:
    _recreate_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    _django()
    import hashlib

    import time_machine
    from django.core.management import call_command

    from accounts import services as accounts_services
    from accounts.models import Creditor
    from recommender import features as F
    from recommender import services
    from recommender.models import ModelVersion
    from recommender.simulator import LIB_CHANNELS, LIB_CTAS, LIB_TONES
    from recommender.tests.conftest import make_variant

    call_command("migrate", verbosity=0)
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_placement", ROOT / "bench/placement.py")
    placement = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(placement)
    make_rows = placement.make_rows

    creditor = Creditor.objects.create(
        name="Bench", slug="bench", display_name="Bench", default_currency="USD"
    )
    n = args.plan_accounts
    with time_machine.travel(PLAN_NOW, tick=False):
        for offset in range(0, n, 10_000):
            rows = make_rows(min(10_000, n - offset))
            for r in rows:
                r["external_ref"] = f"{r['external_ref']}-{offset}"
                r["debtor"]["external_ref"] = f"{r['debtor']['external_ref']}-{offset}"
            accounts_services.placement_upsert(creditor=creditor, rows=rows, actor="bench")
        for ch in LIB_CHANNELS:
            for tone in LIB_TONES:
                for cta in LIB_CTAS:
                    make_variant(name=f"{ch} {tone} {cta}", channel=ch, tone=tone, cta=cta)
        loaded = _loaded_model()
        artifact = loaded.policy.to_bytes()
        model = ModelVersion.objects.create(
            label="bench", feature_version=F.FEATURE_VERSION, n_actions=F.N_ACTIONS,
            n_features=F.N_FEATURES, rows_used=20_000, artifact=artifact,
            artifact_sha256=hashlib.sha256(artifact).hexdigest(),
            metrics={"context_summary": {"mean": loaded.mean.tolist()}},
        )  # fmt: skip
        services.model_promote(model=model, actor="bench")
    from django.db import connections

    connections.close_all()
    workers = max(1, args.plan_workers)
    if workers == 1:
        result = _plan_part((args.database_url, 0, 1, None))
    else:  # each planner sets itself up, then all start together; timed from start to last end
        ctx = multiprocessing.get_context("spawn")
        with ctx.Manager() as manager, ctx.Pool(workers) as pool:
            barrier = manager.Barrier(workers)
            jobs = [(args.database_url, i, workers, barrier) for i in range(workers)]
            results = pool.map(_plan_part, jobs)
        result = {k: sum(r[k] for r in results) for k in results[0] if k not in ("t0", "t1")}
        result["t0"] = min(r["t0"] for r in results)
        result["t1"] = max(r["t1"] for r in results)
    seconds = result["t1"] - result["t0"]
    print(
        f"plan_contacts (PostgreSQL, end to end, {workers} planner(s)): {result['planned']:,} of "
        f"{n:,} accounts planned in {seconds:.1f} s = {result['planned'] / seconds:,.0f} "
        f"accounts/s ({result['without_candidates']:,} without candidates, "
        f"{result['blocked']:,} blocked)"
    )


def _plan_part(job: tuple) -> dict[str, float]:
    """One planner (in its own process when there are several): part `part` of `parts`."""
    url, part, parts, barrier = job
    os.environ["DATABASE_URL"] = url
    _django()
    import time_machine
    from django.test import override_settings

    from recommender import services

    backend = "recommender.simulator.SimulatedBackend"
    with (
        time_machine.travel(PLAN_NOW, tick=False),
        override_settings(
            MESSAGING_EMAIL_CHANNEL_BACKEND=backend,
            MESSAGING_SMS_BACKEND=backend,
            MESSAGING_LETTER_BACKEND=backend,
        ),
    ):
        services.policy_live()  # load the model before the clock starts, as a worker has it
        if barrier is not None:
            barrier.wait()
        t0 = time.perf_counter()  # CLOCK_MONOTONIC: one clock for all the processes
        if os.environ.get("BENCH_PROFILE") and parts == 1:  # a sampling profile (pyinstrument)
            Profiler = _sampling_profiler()

            with Profiler() as profiler:
                result = services.plan_contacts(batch_size=1000)
            print(profiler.output_text(color=False, show_all=False))
        else:
            result = services.plan_contacts(batch_size=1000, part=part, parts=parts)
        t1 = time.perf_counter()
    return {
        "planned": result.planned,
        "without_candidates": result.without_candidates,
        "blocked": result.blocked,
        "t0": t0,
        "t1": t1,
    }


# --- policy value on the simulator ----------------------------------------------------------


def _per_action_logistic(X, actions, rewards, n_actions):
    from sklearn.linear_model import LogisticRegression

    models = {}
    for a in range(n_actions):
        rows = actions == a
        if rows.sum() < 20 or rewards[rows].min() == rewards[rows].max():
            models[a] = float(rewards[rows].mean()) if rows.any() else 0.0
            continue
        models[a] = LogisticRegression(C=1.0, max_iter=300).fit(X[rows], rewards[rows] > 0)
    return models


def _per_action_scores(models, X, n_actions):
    S = np.zeros((X.shape[0], n_actions))
    for a, m in models.items():
        S[:, a] = m if isinstance(m, float) else m.predict_proba(X)[:, 1]
    return S


def _argmax(S, E):
    S = np.where(E, S, -np.inf)
    P = np.zeros_like(S)
    P[np.arange(S.shape[0]), S.argmax(axis=1)] = 1.0
    return P


def _standardised(X_train, X_test):
    """Both contexts standardised with the training rows' mean and sd (constants -> 0)."""
    mean, sd = X_train.mean(axis=0), X_train.std(axis=0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    return (X_train - mean) / sd, (X_test - mean) / sd


def _interaction_logistic(X, actions, rewards, feats, X_test, Cs):
    """The interaction baseline: one logistic regression on [1, x] x [1, f_a] of the logged
    action (standardised contexts, unweighted: the usual direct method), C chosen from `Cs`
    by 3-fold cross-validated log-loss when there are several. Returns the (m, A) scores of
    the test contexts and the C used."""
    import warnings

    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

    Xs, Xt = _standardised(X, X_test)
    x1 = np.hstack([np.ones((len(Xs), 1)), Xs])
    f1 = np.hstack([np.ones((len(feats), 1)), feats])
    Z = (x1[:, :, None] * f1[actions][:, None, :]).reshape(len(Xs), -1)
    y = rewards > 0
    if len(Cs) == 1:
        m = LogisticRegression(C=Cs[0], max_iter=1000).fit(Z, y)
        C = Cs[0]
    else:
        with warnings.catch_warnings():  # scikit-learn 1.9's notices about 1.10 defaults
            warnings.simplefilter("ignore", FutureWarning)
            m = LogisticRegressionCV(
                Cs=list(Cs), cv=3, scoring="neg_log_loss", max_iter=1000, random_state=0
            ).fit(Z, y)
        C = float(m.C_[0])
    # Linear in the outer product: score(x, a) = x1' B f1_a with B the reshaped coefficients.
    B = m.coef_.reshape(x1.shape[1], f1.shape[1])
    xt1 = np.hstack([np.ones((len(Xt), 1)), Xt])
    return xt1 @ B @ f1.T + m.intercept_[0], C


def _vw_cb_adf(X, actions, rewards, props, eligible, feats, X_test, eligible_test, args, seed=0):
    """The Vowpal Wabbit baseline: its contextual bandit with action-dependent
    features, as in bench/learner_offline.py `learn_vw`: the standardised context as the
    shared namespace, each eligible action's features plus its id as the action namespace,
    cost = -reward with the logged propensity, one pass in log order. Returns (m, A) scores
    (-predicted cost; ineligible actions -inf)."""
    import vowpalwabbit
    from learner_offline import vw_action_lines
    from learner_offline import vw_shared as shared

    Xs, Xt = _standardised(X, X_test)
    lines = vw_action_lines(feats, with_id=True)
    vw = vowpalwabbit.Workspace(f"{args} --quiet --random_seed {seed}")
    for i in range(len(Xs)):
        acts = np.flatnonzero(eligible[i])
        ex = [shared(Xs[i])]
        for a in acts:
            label = f"0:{-rewards[i]:.6g}:{props[i]:.6g} " if a == actions[i] else ""
            ex.append(label + lines[a])
        vw.learn(ex)
    out = np.full((len(Xt), feats.shape[0]), -np.inf)
    for i in range(len(Xt)):
        acts = np.flatnonzero(eligible_test[i])
        out[i, acts] = -np.asarray(vw.predict([shared(Xt[i]), *(lines[a] for a in acts)]))
    vw.finish()
    return out


def part_value(args) -> None:
    _django("collections_site.settings.test")
    import tempfile

    from django.test.utils import override_settings, setup_databases, teardown_databases

    from recommender import features as F
    from recommender import learning, services
    from recommender.simulator import (
        SIMULATOR_RETRAIN,
        SIMULATOR_SETTINGS,
        SimulationConfig,
        simulate,
    )

    # --sim-logs PATH: reuse that export if it exists, else simulate and keep it there.
    export = Path(args.sim_logs) if args.sim_logs else None
    sim_seconds = 0.0
    if export is None or not export.exists():
        export = export or Path(tempfile.mkdtemp()) / "recommender-bench-logs.npz"
        old = setup_databases(
            verbosity=0, interactive=False, keepdb=False, aliases={"default"},
            serialized_aliases=set(),
        )  # fmt: skip
        try:
            start = time.perf_counter()
            with override_settings(**SIMULATOR_SETTINGS):
                simulate(
                    SimulationConfig(
                        debtors=args.sim_debtors, days=args.sim_days, seed=args.sim_seed,
                        retrain=False, export=export, progress=False,
                    )
                )  # fmt: skip
            sim_seconds = time.perf_counter() - start
        finally:
            teardown_databases(old, verbosity=0)
    d = np.load(export)
    X, A, P, R, E, T = (
        d[k] for k in ("X", "actions", "propensities", "rewards", "eligible", "truth")
    )
    n = X.shape[0]
    cut = int(n * 0.7)
    tr, te = slice(0, cut), slice(cut, n)
    T = np.nan_to_num(T[te], nan=0.0)
    Ete = E[te]

    def value(Pi):
        return float((Pi * T).sum(axis=1).mean())

    cfg = services.learner_config(SIMULATOR_RETRAIN["learner"])
    start = time.perf_counter()
    policy = learning.fit_policy(
        X[tr], A[tr], R[tr], P[tr], n_actions=F.N_ACTIONS, action_features=F.action_features()
    )
    fit_default = time.perf_counter() - start
    # The simulator's own learner settings, when it has any (none now: then it is the default).
    fast = None
    if cfg is not None:
        fast = learning.fit_policy(
            X[tr], A[tr], R[tr], P[tr], n_actions=F.N_ACTIONS,
            action_features=F.action_features(), config=cfg,
        )  # fmt: skip
    uniform = Ete / Ete.sum(axis=1, keepdims=True)
    # IPS value of "always this action" on the training logs; ineligible: next best.
    ips = np.bincount(A[tr], weights=R[tr] / P[tr], minlength=F.N_ACTIONS) / cut
    fixed = _argmax(np.broadcast_to(ips, Ete.shape), Ete)
    logistic = _argmax(_per_action_scores(_per_action_logistic(X[tr], A[tr], R[tr],
                                                               F.N_ACTIONS), X[te], F.N_ACTIONS),
                       Ete)  # fmt: skip
    feats = F.action_features()
    inter_c1, _ = _interaction_logistic(X[tr], A[tr], R[tr], feats, X[te], (1.0,))
    inter_cv, c_cv = _interaction_logistic(
        X[tr], A[tr], R[tr], feats, X[te], (1e-4, 3e-4, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
    )
    vw_rows = {}
    try:
        import vowpalwabbit  # noqa: F401  (optional: not a project dependency)
    except ImportError:
        print("vowpalwabbit is not installed: VW cb_adf baselines skipped")
    else:
        for vw_args in ("--cb_adf", "--cb_adf -q sa", "--cb_adf -q sa -l 0.1"):
            scores = _vw_cb_adf(X[tr], A[tr], R[tr], P[tr], E[tr], feats, X[te], Ete, vw_args)
            vw_rows[f"VW {vw_args}"] = value(_argmax(scores, Ete))
    oracle = _argmax(np.where(Ete, T, -1), Ete)
    # The fixed action that is truly best on the training decisions (hindsight, true values):
    # what a learner that cannot use the context at all should get close to.
    T_tr = np.nan_to_num(d["truth"][tr], nan=0.0)
    hindsight = _argmax(np.broadcast_to(T_tr.sum(axis=0), Ete.shape), Ete)
    rows = {
        "learner (exploit, default config)": value(policy.probabilities(X[te], eligible=Ete,
                                                                        explore=False)),
        "learner (explore, as deployed)": value(policy.probabilities(X[te], eligible=Ete)),
        "uniform random": value(uniform),
        "best fixed action (logged IPS)": value(fixed),
        "best fixed action (true, hindsight)": value(hindsight),
        "per-action logistic regression": value(logistic),
        "interaction logistic regression, C=1": value(_argmax(inter_c1, Ete)),
        f"interaction LR, C={c_cv:g} (3-fold CV)": value(_argmax(inter_cv, Ete)),
        **vw_rows,
        "oracle (knows the hidden traits)": value(oracle),
    }  # fmt: skip
    print(
        f"value: simulator {args.sim_debtors} debtors x {args.sim_days} days, seed "
        f"{args.sim_seed} "
        f"({sim_seconds:.0f} s), {n:,} decisions, trained on {cut:,}, scored exactly on "
        f"{n - cut:,} (default fit {fit_default:.1f} s)"
    )
    if fast is not None:
        rows["learner (exploit, simulator config)"] = value(
            fast.probabilities(X[te], eligible=Ete, explore=False)
        )
    base = rows["uniform random"]
    for name, v in rows.items():
        print(f"  {name:<38} {v:.4f}  ({v / base - 1:+.1%} vs uniform)")


PARTS = {
    "fit": part_fit,
    "latency": part_latency,
    "throughput": part_throughput,
    "plan": part_plan,
    "value": part_value,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(PARTS))
    parser.add_argument("--plan-accounts", type=int, default=100_000)
    parser.add_argument(
        "--plan-workers", type=int, default=1, help="plan: planners side by side (processes)"
    )
    parser.add_argument("--sim-debtors", type=int, default=2000)
    parser.add_argument("--sim-days", type=int, default=30)
    parser.add_argument("--sim-seed", type=int, default=1)
    parser.add_argument(
        "--sim-logs", default="", help="value: reuse this simulator export (or write it there)"
    )
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/collections_bench_rec"
    )
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)}; parts: {', '.join(PARTS)}")
    if args.in_process:
        PARTS[parts[0]](args)
        return
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    for part in parts:
        cmd = [sys.executable, __file__, "--only", part, "--in-process",
               "--plan-accounts", str(args.plan_accounts),
               "--plan-workers", str(args.plan_workers), "--sim-debtors", str(args.sim_debtors),
               "--sim-days", str(args.sim_days), "--sim-seed", str(args.sim_seed),
               "--sim-logs", args.sim_logs, "--database-url", args.database_url]  # fmt: skip
        subprocess.run(cmd, check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
