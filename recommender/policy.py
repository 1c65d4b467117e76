"""The decision step in numbers: control arm, policy arm, propensities and explanations.

Plain numpy on top of a loaded `recommender.learning.Policy`; no queries. The planner
(`recommender.services.plan_contacts`) builds each account's candidates, this module picks one
per account, and the planner sends it. Kept apart from the services so the bench can time the
decision itself and tests can check the propensity arithmetic exactly.

Logging policy, per account, over its eligible candidates (variant x send time):

- with probability `control_share` the *control* arm: uniform over the candidates;
- with probability `send_time_share` (0 unless configured) the *send-time* arm: the policy
  arm's draw of an archetype, then uniformly one candidate of the same kind of message (tone,
  call to action, channel) at any send-hour bucket: the policy with its send time drawn at
  random, so the policy arm against it measures what choosing the hour is worth;
- otherwise the *policy* arm: an archetype `a` with the learner's probability `P(a)`
  (`explore=True`: Thompson sampling plus an epsilon floor), then uniformly one candidate of
  that archetype. Without a live model the policy arm is uniform over candidates as well.

The probability of the chosen candidate `c` (archetype `a`, `C[a]` candidates in `a`, `n` in
all; `k` its kind, `P(k)` the policy's probability summed over the kind's archetypes, `N[k]`
the candidates of that kind) is `s / n + t * P(k) / N[k] + (1 - s - t) * P(a) / C[a]` with
`s` the control share and `t` the send-time share; the archetype's is `C[a]` times that. The
first goes on the message, the second into the learner's log: both are the true
probabilities of the whole logging policy, arm draw included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.special import logit

from recommender import features as F
from recommender.learning import Policy


@dataclass(slots=True)
class Candidate:
    """One thing the planner could send: a live variant, on its channel, at a time."""

    variant: Any
    channel: str
    bucket: int
    at: datetime
    action: int


@dataclass(slots=True)
class Choice:
    """What the policy picked for one account and why."""

    candidate: Candidate
    arm: str
    propensity: float
    action_propensity: float
    model_label: str
    explanation: dict[str, Any]
    eligible: np.ndarray = field(repr=False)
    n_candidates: int = 0


@dataclass
class LoadedModel:
    """A live model in memory: the policy plus what explanations need (computed once)."""

    id: int
    label: str
    policy: Policy
    mean: np.ndarray
    slopes: np.ndarray  # (d, A): change of the reward logit per unit of each feature
    base_logits: np.ndarray  # (A,): reward logits at the mean context

    @classmethod
    def build(cls, *, id: int, label: str, policy: Policy, summary: dict[str, list[float]]):
        """Prepare a policy for deciding: one batch of `d + 1` evaluations gives each feature's
        effect on every action's logit for every later explanation. Exact when the model is
        linear in the context; with step columns (a threshold of age, balance or a score) it
        is the change over one standard deviation from the mean, divided by that step."""
        mean = np.asarray(summary.get("mean") or np.zeros(F.N_FEATURES), dtype=np.float64)
        std = np.asarray(summary.get("std") or np.ones(F.N_FEATURES), dtype=np.float64)
        step = np.where(std > 1e-9, std, 1.0)
        rows = np.vstack([mean, mean + np.diag(step)])
        scale = policy.reward_scale or 1.0
        lg = logit(np.clip(policy.expected_rewards(rows) / scale, 1e-12, 1 - 1e-12))
        slopes = (lg[1:] - lg[0]) / step[:, None]
        return cls(id=id, label=label, policy=policy, mean=mean, slopes=slopes, base_logits=lg[0])


@lru_cache(maxsize=1)
def _groups() -> tuple[list[str], np.ndarray]:
    """Feature-group names and the (features x groups) 0/1 matrix that sums effects by group."""
    groups = F.feature_groups()
    names = list(groups)
    membership = np.zeros((F.N_FEATURES, len(names)))
    for j, name in enumerate(names):
        membership[groups[name], j] = 1.0
    return names, membership


@lru_cache(maxsize=1)
def _kinds() -> tuple[np.ndarray, np.ndarray]:
    """Each archetype's kind of message (tone, call to action, channel: all but the send-hour
    bucket) as an index, and the (archetypes x kinds) 0/1 matrix that sums over a kind."""
    keys = {(a.tone, a.cta, a.channel) for a in F.ACTIONS}
    index = {key: j for j, key in enumerate(sorted(keys))}
    kind = np.array([index[(a.tone, a.cta, a.channel)] for a in F.ACTIONS])
    membership = np.zeros((F.N_ACTIONS, len(index)))
    membership[np.arange(F.N_ACTIONS), kind] = 1.0
    return kind, membership


def _send_time_random(P: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Archetype probabilities of the send-time arm: the policy's probability of each kind of
    message, spread over that kind's candidates (whatever their send time)."""
    _, membership = _kinds()
    per_kind = P @ membership
    candidates = counts @ membership
    return (per_kind / np.maximum(candidates, 1)) @ membership.T * counts


def eligibility(candidates: Sequence[Sequence[Candidate]]) -> tuple[np.ndarray, np.ndarray]:
    """(eligible mask, candidate counts), both (m, N_ACTIONS), from each account's candidates."""
    counts = np.zeros((len(candidates), F.N_ACTIONS), dtype=np.int32)
    for i, cands in enumerate(candidates):
        for c in cands:
            counts[i, c.action] += 1
    return counts > 0, counts


def choose(
    *,
    X: np.ndarray,
    candidates: Sequence[Sequence[Candidate]],
    model: LoadedModel | None,
    control_share: float,
    rng: np.random.Generator,
    send_time_share: float = 0.0,
    explain_top: int = 3,
) -> list[Choice | None]:
    """Pick one candidate per account (None for an account without candidates)."""
    m = len(candidates)
    out: list[Choice | None] = [None] * m
    rows = [i for i in range(m) if candidates[i]]
    if not rows:
        return out
    eligible, counts = eligibility([candidates[i] for i in rows])
    n = counts.sum(axis=1, keepdims=True).astype(np.float64)
    uniform = counts / n  # archetype probabilities of "uniform over candidates"
    if model is not None:
        P = model.policy.probabilities(X[rows], eligible=eligible, explore=True)
    else:
        P = uniform
    share, timed = float(control_share), float(send_time_share)
    mix = share * uniform + (1.0 - share) * P
    if timed:
        mix = share * uniform + timed * _send_time_random(P, counts) + (1 - share - timed) * P
    picks = _picks(rows, candidates, P, share, timed, rng)
    policy_rows = [k for k, (_, arm) in enumerate(picks) if arm == "policy"]
    why: dict[int, dict[str, Any]] = {}
    if model is not None and policy_rows:
        actions = np.array([picks[k][0].action for k in policy_rows], dtype=np.intp)
        found = _explanations(
            X=X[[rows[k] for k in policy_rows]], actions=actions,
            eligible=eligible[policy_rows], model=model, top=explain_top,
        )  # fmt: skip
        why = dict(zip(policy_rows, found, strict=True))
    for k, i in enumerate(rows):
        c, arm = picks[k]
        a = c.action
        action_prop = float(mix[k, a])
        prop = action_prop / float(counts[k, a])
        explanation = _explain(action=a, arm=arm, model_why=why.get(k))
        explanation["candidates"] = len(candidates[i])
        out[i] = Choice(
            candidate=c,
            arm=arm,
            propensity=min(1.0, max(prop, 1e-9)),
            action_propensity=min(1.0, max(action_prop, 1e-9)),
            model_label=model.label if model is not None else "",
            explanation=explanation,
            eligible=eligible[k],
            n_candidates=len(candidates[i]),
        )
    return out


def _picks(
    rows: list[int],
    candidates: Sequence[Sequence[Candidate]],
    P: np.ndarray,
    share: float,
    timed: float,
    rng: np.random.Generator,
) -> list[tuple[Candidate, str]]:
    """Each row's arm and candidate: the arm by one uniform draw a row; the control arm a
    candidate uniformly, the policy arm an archetype by ``P`` then one of its candidates, the
    send-time arm one candidate of that archetype's kind at any send time."""
    draws = rng.random(len(rows))
    kind, identity = _kinds()[0], np.arange(F.N_ACTIONS)
    picks = []
    for k, i in enumerate(rows):
        cands = candidates[i]
        arm = (
            "control" if draws[k] < share else "send_time" if draws[k] < share + timed else "policy"
        )
        if arm == "control":
            c = cands[int(rng.integers(len(cands)))]
        else:
            p = P[k] / P[k].sum()
            a = int(rng.choice(F.N_ACTIONS, p=p))
            key = kind if arm == "send_time" else identity  # same kind, or same archetype
            same = [c for c in cands if key[c.action] == key[a]]
            c = same[int(rng.integers(len(same)))]
        picks.append((c, arm))
    return picks


def _explain(*, action: int, arm: str, model_why: dict[str, Any] | None) -> dict[str, Any]:
    """Why this archetype: the arm's rule, or (policy arm with a live model) ``model_why``."""
    info: dict[str, Any] = {"arm": arm, "action": F.ACTIONS[action].as_dict()}
    if arm == "control":
        info["why"] = "Random control group: chosen uniformly among the allowed candidates."
    elif arm == "send_time":
        info["why"] = (
            "Send-time control group: the kind of message the policy picked, at a send time "
            "drawn at random among the allowed ones."
        )
    elif model_why is None:
        info["why"] = "No live model yet: chosen uniformly among the allowed candidates."
    else:
        info.update(model_why)
    return info


def _explanations(
    *, X: np.ndarray, actions: np.ndarray, eligible: np.ndarray, model: LoadedModel, top: int
) -> list[dict[str, Any]]:
    """Why the model picked each row's archetype, for many rows at once: the feature groups
    that most raised (or lowered) its estimated reward relative to the average eligible
    alternative, and the estimated conversion of both."""
    m = X.shape[0]
    if not m:
        return []
    at = np.arange(m)
    delta = X - model.mean
    p = 1.0 / (1.0 + np.exp(-(model.base_logits + delta @ model.slopes)))  # (m, A)
    others = eligible.copy()
    others[at, actions] = False
    alone = ~others.any(axis=1)  # nothing else eligible: compare with the eligible set
    others[alone] = eligible[alone]
    n_others = others.sum(axis=1)
    slopes_t = model.slopes.T  # (A, d)
    gain = slopes_t[actions] - (others @ slopes_t) / n_others[:, None]
    names, membership = _groups()
    grouped = (delta * gain) @ membership  # (m, groups)
    order = np.argsort(-np.abs(grouped), axis=1)[:, :top]
    expected = p[at, actions]
    alternatives = (p * others).sum(axis=1) / n_others
    out = []
    for j in range(m):
        ranked = [(names[g], float(grouped[j, g])) for g in order[j]]
        tops = [{"feature": k, "effect": round(v, 3)} for k, v in ranked if abs(v) > 1e-6]
        info = {
            "expected": round(float(expected[j]), 4),
            "alternatives": round(float(alternatives[j]), 4),
            "top": tops,
        }
        drivers = ", ".join(f"{t['feature']} ({t['effect']:+.2f})" for t in tops)
        info["why"] = (
            f"Model pick: estimated conversion {info['expected']:.1%} against "
            f"{info['alternatives']:.1%} for the other allowed kinds; drivers: "
            f"{drivers or 'none'}."
        )
        out.append(info)
    return out
