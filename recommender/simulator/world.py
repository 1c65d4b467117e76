"""The simulated world: debtors' hidden traits and how they respond (docs/simulator.md).

`World.conversion_probability` is the ground truth the summary scores the policy against.
Plain numpy over the recommender's action space (`recommender.features`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from recommender import features as F

REGIONS: tuple[tuple[str, str, str, float], ...] = (
    # region, language, time zone, share
    ("US-MA", "en", "America/New_York", 0.30),
    ("US-CA", "en", "America/Los_Angeles", 0.10),
    ("GB", "en", "Europe/London", 0.20),
    ("FR", "fr", "Europe/Paris", 0.15),
    ("DE", "de", "Europe/Berlin", 0.15),
    ("CA-ON", "en", "America/Toronto", 0.10),
)
LIB_TONES = ("friendly", "empathetic", "formal", "firm")
LIB_CTAS = ("pay_in_full", "payment_plan", "contact_us")
LIB_CHANNELS = ("email", "sms", "letter")
GENERAL_STAGES = ["first_contact", "early", "mid", "late"]
PLAN_STAGES = ["plan_reminder", "missed_instalment", "pause_ending"]

CHANNEL_OPEN = {"email": -0.6, "sms": 0.7, "whatsapp": 0.8, "letter": 0.3}
TONE_EMOTIONAL = {"friendly": 0.5, "empathetic": 1.1, "formal": -0.5, "firm": -1.0, "other": 0.0}
TONE_RATIONAL = {"friendly": 0.0, "empathetic": -0.4, "formal": 0.5, "firm": 0.3, "other": 0.0}


def _sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class World:
    """Hidden traits of `n` debtors and how they respond (see docs/simulator.md)."""

    n: int
    seed: int
    willing: np.ndarray = field(init=False)
    able: np.ndarray = field(init=False)
    organised: np.ndarray = field(init=False)
    emotional: np.ndarray = field(init=False)
    channel_affinity: np.ndarray = field(init=False)  # (n, 4) in F.CHANNELS order
    peak_bucket: np.ndarray = field(init=False)
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        r = np.random.default_rng(self.seed)
        self.rng = np.random.default_rng(self.seed + 1)
        self.willing = r.beta(2, 2, self.n)
        self.able = r.beta(2, 2, self.n)
        self.organised = r.beta(2, 2, self.n)
        self.emotional = r.beta(2, 2, self.n)
        young = r.random(self.n) < 0.5
        aff = r.normal(0, 0.6, (self.n, len(F.CHANNELS)))
        aff[:, F.CHANNELS.index("sms")] += np.where(young, 0.8, -0.4)
        aff[:, F.CHANNELS.index("email")] += np.where(young, -0.2, 0.5)
        aff[:, F.CHANNELS.index("letter")] += np.where(young, -0.8, 0.4)
        self.channel_affinity = aff
        self.peak_bucket = r.choice(len(F.HOUR_BUCKETS), self.n, p=[0.2, 0.15, 0.2, 0.45])

    # The funnel, as logits, for debtor i and an archetype (tone family, CTA family, channel,
    # bucket). The truth is a function of the archetype only, so the best achievable policy
    # over the learner's action space is well defined.
    def p_open(self, i: int, channel: str, bucket: int, sends_before: int) -> float:
        ch = F.CHANNELS.index(channel)
        hour = 0.8 if bucket == self.peak_bucket[i] else -0.3
        if channel == "letter":
            hour = 0.0
        fatigue = -0.06 * min(sends_before, 10)
        z = CHANNEL_OPEN[channel] + self.channel_affinity[i, ch] + hour + fatigue
        z += 0.8 * (self.willing[i] - 0.5)
        return float(_sigmoid(z))

    def p_click(self, i: int, tone: str, cta: str) -> float:
        e = self.emotional[i]
        z = -1.4 + 2 * e * TONE_EMOTIONAL[tone] + 2 * (1 - e) * TONE_RATIONAL[tone]
        z += 1.2 * (self.willing[i] - 0.5)
        if tone == "firm":  # firm works on the able but unwilling
            z += 1.5 * (self.able[i] - 0.5) * (1 - self.willing[i])
        if cta == "talk":
            z += 0.3
        return float(_sigmoid(z))

    def p_convert(self, i: int, cta: str) -> float:
        a = self.able[i]
        z = -0.6 + 1.5 * (self.willing[i] - 0.5)
        if cta == "pay":
            z += 2.5 * (a - 0.5)
        elif cta == "plan":
            z += 2.0 * (0.5 - a) + 0.2
        elif cta == "talk":
            z += -0.4 + 0.8 * (self.emotional[i] - 0.5)
        return float(_sigmoid(z))

    def conversion_probabilities(self, debtors: np.ndarray, sends_before: np.ndarray) -> np.ndarray:
        """`conversion_probability` of every action (columns, `F.ACTIONS` order) for each of
        `debtors` (rows, world indices) after `sends_before` messages each: the same funnel,
        computed for a whole planning run at once."""
        t = _action_table()
        idx = np.asarray(debtors, dtype=np.int64)
        w = (self.willing[idx] - 0.5)[:, None]
        a = self.able[idx][:, None]
        e = self.emotional[idx][:, None]
        hour = np.where(t.bucket[None, :] == self.peak_bucket[idx][:, None], 0.8, -0.3)
        hour = np.where(t.letter[None, :], 0.0, hour)
        fatigue = (-0.06 * np.minimum(np.asarray(sends_before), 10))[:, None]
        z_open = t.channel_open[None, :] + self.channel_affinity[idx][:, t.channel]
        z_open = z_open + hour + fatigue + 0.8 * w
        z_click = -1.4 + 2 * e * t.emotional[None, :] + 2 * (1 - e) * t.rational[None, :]
        z_click = z_click + 1.2 * w
        z_click = z_click + np.where(t.firm[None, :], 1.5 * (a - 0.5) * (0.5 - w), 0.0)
        z_click = z_click + np.where(t.talk[None, :], 0.3, 0.0)
        z_convert = -0.6 + 1.5 * w + np.where(t.pay[None, :], 2.5 * (a - 0.5), 0.0)
        z_convert = z_convert + np.where(t.plan[None, :], 2.0 * (0.5 - a) + 0.2, 0.0)
        z_convert = z_convert + np.where(t.talk[None, :], -0.4 + 0.8 * (e - 0.5), 0.0)
        return _sigmoid(z_open) * _sigmoid(z_click) * _sigmoid(z_convert)

    def conversion_probability(self, i: int, action: int, sends_before: int) -> float:
        a = F.ACTIONS[action]
        return (
            self.p_open(i, a.channel, a.bucket, sends_before)
            * self.p_click(i, a.tone, a.cta)
            * self.p_convert(i, a.cta)
        )


@dataclass(frozen=True)
class _ActionTable:
    """The funnel's per-action terms, one entry per action of `F.ACTIONS`."""

    channel: np.ndarray
    channel_open: np.ndarray
    bucket: np.ndarray
    letter: np.ndarray
    emotional: np.ndarray
    rational: np.ndarray
    firm: np.ndarray
    talk: np.ndarray
    pay: np.ndarray
    plan: np.ndarray


@lru_cache(maxsize=1)
def _action_table() -> _ActionTable:
    acts = F.ACTIONS
    return _ActionTable(
        channel=np.array([F.CHANNELS.index(a.channel) for a in acts]),
        channel_open=np.array([CHANNEL_OPEN[a.channel] for a in acts]),
        bucket=np.array([a.bucket for a in acts]),
        letter=np.array([a.channel == "letter" for a in acts]),
        emotional=np.array([TONE_EMOTIONAL[a.tone] for a in acts]),
        rational=np.array([TONE_RATIONAL[a.tone] for a in acts]),
        firm=np.array([a.tone == "firm" for a in acts]),
        talk=np.array([a.cta == "talk" for a in acts]),
        pay=np.array([a.cta == "pay" for a in acts]),
        plan=np.array([a.cta == "plan" for a in acts]),
    )


def bucket_of(hour: int) -> int:
    for b, bucket in enumerate(F.HOUR_BUCKETS):
        if bucket.start <= hour < bucket.end:
            return b
    return 0 if hour < F.HOUR_BUCKETS[0].start else len(F.HOUR_BUCKETS) - 1
