"""The decision arithmetic: control arm, policy arm, propensities and explanations."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
import pytest

from recommender import features as F
from recommender import learning
from recommender.policy import Candidate, LoadedModel, choose

AT = datetime(2026, 3, 10, 13, 0, tzinfo=UTC)


def _cands(spec: list[tuple[str, str, str, int]]) -> list[Candidate]:
    """Candidates from (tone, cta, channel, bucket); one fake variant each."""
    out = []
    for k, (tone, cta, channel, bucket) in enumerate(spec):
        variant = SimpleNamespace(pk=k, tone=SimpleNamespace(slug=tone), cta=cta, channel=channel)
        out.append(Candidate(variant, channel, bucket, AT, F.archetype_of(variant, bucket)))
    return out


SPEC = [
    ("friendly", "pay_in_full", "email", 0),
    ("friendly", "pay_in_full", "email", 0),  # a second variant of the same archetype
    ("firm", "payment_plan", "sms", 3),
    ("empathetic", "contact_us", "letter", 0),
]


def _fitted_model(best: int, seed: int = 0) -> LoadedModel:
    """A policy fitted on uniform logs where archetype `best` converts far more often."""
    rng = np.random.default_rng(seed)
    n = 6000
    X = rng.normal(size=(n, F.N_FEATURES))
    actions = rng.integers(0, F.N_ACTIONS, n)
    rewards = (rng.random(n) < np.where(actions == best, 0.6, 0.02)).astype(float)
    policy = learning.fit_policy(
        X, actions, rewards, np.full(n, 1 / F.N_ACTIONS), n_actions=F.N_ACTIONS,
        action_features=F.action_features(),
        config=learning.LearnerConfig(small_log_rows=0, max_iter=80),
    )  # fmt: skip
    summary = F.summarise_contexts(X)
    return LoadedModel.build(id=1, label="m-test", policy=policy, summary=summary)


_MODELS: dict[int, LoadedModel] = {}


def planted_model() -> LoadedModel:
    """The model with SPEC[2]'s archetype planted as best, fitted once per test session."""
    best = _cands(SPEC)[2].action
    if best not in _MODELS:
        _MODELS[best] = _fitted_model(best=best)
    return _MODELS[best]


@pytest.fixture
def model() -> LoadedModel:
    return planted_model()


def test_control_arm_is_uniform_over_candidates_with_exact_propensities():
    cands = _cands(SPEC)
    X = np.zeros((1, F.N_FEATURES))
    picks = [
        choose(X=X, candidates=[cands], model=None, control_share=1.0,
               rng=np.random.default_rng(s))[0]
        for s in range(400)
    ]  # fmt: skip
    assert {p.arm for p in picks} == {"control"}
    assert all(p.propensity == pytest.approx(1 / 4) for p in picks)
    email = cands[0].action
    # the archetype with two variants carries twice the probability in the learner's log
    assert all(
        p.action_propensity == pytest.approx(0.5) for p in picks if p.candidate.action == email
    )
    counts = np.bincount([p.candidate.variant.pk for p in picks], minlength=4)
    assert counts.min() > 60  # every candidate is drawn (uniform, 100 expected each)


def test_without_a_model_the_policy_arm_is_uniform_too():
    cands = _cands(SPEC)
    X = np.zeros((1, F.N_FEATURES))
    choice = choose(X=X, candidates=[cands], model=None, control_share=0.1,
                    rng=np.random.default_rng(1))[0]  # fmt: skip
    assert choice.propensity == pytest.approx(1 / 4)
    assert choice.model_label == ""
    assert "No live model" in choice.explanation["why"]


def test_policy_arm_prefers_the_learned_best_archetype_and_logs_mixture_propensities(model):
    cands = _cands(SPEC)
    best = cands[2].action
    X = np.zeros((1, F.N_FEATURES))
    P = model.policy.probabilities(
        X, eligible=np.isin(np.arange(F.N_ACTIONS), [c.action for c in cands])[None], explore=True
    )[0]
    picks = [
        choose(X=X, candidates=[cands], model=model, control_share=0.1,
               rng=np.random.default_rng(s))[0]
        for s in range(300)
    ]  # fmt: skip
    share_best = np.mean([p.candidate.action == best for p in picks])
    assert share_best > 0.6
    for p in picks:
        a = p.candidate.action
        n_in_a = sum(c.action == a for c in cands)
        mix = 0.1 * n_in_a / 4 + 0.9 * P[a]
        assert p.action_propensity == pytest.approx(mix)
        assert p.propensity == pytest.approx(mix / n_in_a)
        assert p.model_label == "m-test"


def test_the_policy_never_picks_outside_the_candidates(model):
    cands = _cands(SPEC[3:])  # only the letter is allowed
    X = np.random.default_rng(3).normal(size=(5, F.N_FEATURES))
    choices = choose(X=X, candidates=[cands, [], cands, cands, []], model=model,
                     control_share=0.1, rng=np.random.default_rng(0))  # fmt: skip
    assert choices[1] is None and choices[4] is None
    assert all(c.candidate is cands[0] for c in choices if c is not None)
    assert all(c.propensity == pytest.approx(1.0) for c in choices if c is not None)


def test_policy_decisions_explain_themselves_with_the_top_features(model):
    cands = _cands(SPEC)
    X = np.random.default_rng(5).normal(size=(1, F.N_FEATURES))
    picks = [
        choose(X=X, candidates=[cands], model=model, control_share=0.0,
               rng=np.random.default_rng(s))[0]
        for s in range(5)
    ]  # fmt: skip
    explanation = picks[0].explanation
    assert explanation["arm"] == "policy"
    assert explanation["action"]["channel"] in {"email", "sms", "letter"}
    assert 0 < len(explanation["top"]) <= 3
    assert all(t["feature"] in F.feature_groups() for t in explanation["top"])
    assert "Model pick" in explanation["why"]
    assert 0 <= explanation["expected"] <= 1


def _explained_alone(x, action, eligible, model, top=3):
    """One row's explanation, written out feature by feature."""
    delta = x - model.mean
    p = 1 / (1 + np.exp(-(model.base_logits + delta @ model.slopes)))
    others = [a for a in range(F.N_ACTIONS) if eligible[a] and a != action] or [
        a for a in range(F.N_ACTIONS) if eligible[a]
    ]
    gain = [model.slopes[f, action] - np.mean(model.slopes[f, others]) for f in range(x.size)]
    effects = {
        name: sum(delta[f] * gain[f] for f in cols) for name, cols in F.feature_groups().items()
    }
    ranked = sorted(effects.items(), key=lambda kv: -abs(kv[1]))[:top]
    return p[action], np.mean(p[others]), ranked


def test_each_decision_in_a_batch_is_explained_as_if_it_were_alone(model):
    """Many accounts' picks explained at once: each as its own arithmetic says, including an
    account whose pick is its only eligible archetype."""
    cands = _cands(SPEC)
    accounts = [cands] * 30 + [cands[:2]]  # the last: one archetype only
    X = np.random.default_rng(7).normal(size=(len(accounts), F.N_FEATURES))
    picks = choose(X=X, candidates=accounts, model=model, control_share=0.0,
                   rng=np.random.default_rng(3))  # fmt: skip
    assert len({c.candidate.action for c in picks}) > 1
    for x, choice in zip(X, picks, strict=True):
        expected, alternatives, ranked = _explained_alone(
            x, choice.candidate.action, choice.eligible, model
        )
        why = choice.explanation
        assert why["expected"] == pytest.approx(expected, abs=1e-4)
        assert why["alternatives"] == pytest.approx(alternatives, abs=1e-4)
        assert [t["feature"] for t in why["top"]] == [k for k, v in ranked if abs(v) > 1e-6]
        for t, (_, v) in zip(why["top"], ranked, strict=False):
            assert t["effect"] == pytest.approx(v, abs=1e-3)


def test_control_decisions_say_they_are_random():
    cands = _cands(SPEC)
    choice = choose(X=np.zeros((1, F.N_FEATURES)), candidates=[cands], model=None,
                    control_share=1.0, rng=np.random.default_rng(0))[0]  # fmt: skip
    assert choice.explanation["arm"] == "control"
    assert "Random control" in choice.explanation["why"]


def test_the_send_time_arm_keeps_the_policys_kind_of_message_at_a_random_hour(model):
    """The policy arm against the same policy with its send hour drawn at random measures what
    choosing the hour is worth: the send-time arm draws the policy's archetype, then any
    candidate of the same tone, call to action and channel, and logs the true mixture."""
    spec = [("firm", "payment_plan", "sms", b) for b in range(4)] + [SPEC[0], SPEC[3]]
    cands = _cands(spec)
    X = np.zeros((1, F.N_FEATURES))
    eligible = np.isin(np.arange(F.N_ACTIONS), [c.action for c in cands])[None]
    P = model.policy.probabilities(X, eligible=eligible, explore=True)[0]
    picks = [
        choose(X=X, candidates=[cands], model=model, control_share=0.1, send_time_share=0.3,
               rng=np.random.default_rng(s))[0]
        for s in range(2000)
    ]  # fmt: skip
    arms = {arm: [p for p in picks if p.arm == arm] for arm in ("control", "send_time", "policy")}
    assert 0.25 < len(arms["send_time"]) / len(picks) < 0.35
    assert 0.07 < len(arms["control"]) / len(picks) < 0.13
    sms = [c.action for c in cands[:4]]
    p_sms = P[sms].sum()  # the policy's probability of the kind "firm payment plan by SMS"
    for p in picks:
        a = p.candidate.action
        timed = 0.3 * (p_sms / 4 if a in sms else P[a])  # SMS: any of four hours; else one
        assert p.action_propensity == pytest.approx(0.1 / 6 + timed + 0.6 * P[a])
        assert p.propensity == p.action_propensity  # one candidate per archetype here
    # The propensities are the probabilities the picks are drawn with: they add up to one
    # over the candidates, and each candidate comes up about that often.
    shown = {p.candidate.variant.pk: p.propensity for p in picks}
    assert sorted(shown) == list(range(6))
    assert sum(shown.values()) == pytest.approx(1.0)
    freq = np.bincount([p.candidate.variant.pk for p in picks], minlength=6) / len(picks)
    for k in range(6):
        assert freq[k] == pytest.approx(shown[k], abs=0.03)
    # In the send-time arm, SMS picks spread over the four hours the policy does not weigh.
    timed_sms = [p.candidate.bucket for p in arms["send_time"] if p.candidate.action in sms]
    hours = np.bincount(timed_sms, minlength=4)
    assert hours.min() > 0.15 * hours.sum()
    assert "Send-time control group" in arms["send_time"][0].explanation["why"]


def test_without_a_send_time_share_the_draws_are_the_two_arms_of_before(model):
    """Switched off, the send-time arm changes nothing: each account's arm is still decided
    by the generator's first draws (control below the control share), and the propensities
    are the two-arm mixture."""
    cands = _cands(SPEC)
    X = np.zeros((3, F.N_FEATURES))
    eligible = np.isin(np.arange(F.N_ACTIONS), [c.action for c in cands])[None]
    P = model.policy.probabilities(X[:1], eligible=eligible, explore=True)[0]
    for seed in range(20):
        first = np.random.default_rng(seed).random(3)
        expected_arms = ["control" if u < 0.1 else "policy" for u in first]
        plain = choose(X=X, candidates=[cands] * 3, model=model, control_share=0.1,
                       rng=np.random.default_rng(seed))  # fmt: skip
        zero = choose(X=X, candidates=[cands] * 3, model=model, control_share=0.1,
                      send_time_share=0.0, rng=np.random.default_rng(seed))  # fmt: skip
        assert [(c.candidate.variant.pk, c.arm, c.propensity) for c in plain] == [
            (c.candidate.variant.pk, c.arm, c.propensity) for c in zero
        ]
        assert {c.arm for c in plain} <= {"policy", "control"}
        assert [c.arm for c in plain] == expected_arms
        for c in plain:
            a = c.candidate.action
            n_in_a = sum(k.action == a for k in cands)
            assert c.action_propensity == pytest.approx(0.1 * n_in_a / 4 + 0.9 * P[a])
