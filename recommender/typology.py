"""Debtor typology: four behavioural dimensions estimated from what each debtor did.

The dimensions (after PAIR Finance's published 16-type model) are scored in [-1, 1]:

- willing (+) / defiant (-): engages and pays, versus disputes, complains and ignores;
- able (+) / insolvent (-): pays in full and keeps up, versus partial payments, pauses,
  insolvency flags and large balances left unpaid;
- organised (+) / chaotic (-): pays instalments on time and sets preferences, versus
  missed instalments and payments after the due date;
- emotional (+) / rational (-): reacts more to friendly and empathetic messages than to formal
  and firm ones, replies and asks to be called.

Each score is `tanh` of a weighted sum of evidence (weights and reasons in
docs/recommender.md); with no evidence a score is 0 and `confidence` is 0. The type code is
four letters, one per dimension: W/D, A/I, O/C, E/R (a score of exactly 0 takes the first).

`typology_score` is pure (plain values in and out; this module imports nothing of Django or
of the project); `recommender.evidence.typology_inputs` gathers the evidence of a batch of
debtors from the database with a constant number of queries. Written by
`recommender.services.typology_refresh`, stored in `DebtorTypology`, read as context features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

SOFT_TONES = frozenset({"friendly", "empathetic"})
HARD_TONES = frozenset({"formal", "firm"})


@dataclass
class TypologyInputs:
    """The evidence about one debtor, summed over their accounts."""

    sends: int = 0
    opens: int = 0
    clicks: int = 0
    replies: int = 0
    complaints: int = 0
    soft_sends: int = 0
    soft_clicks: int = 0
    hard_sends: int = 0
    hard_clicks: int = 0
    payments: int = 0
    amount_paid: float = 0.0
    original_total: float = 0.0
    balance_total: float = 0.0
    paid_after_due: int = 0
    plans: int = 0
    plans_broken: int = 0
    instalments_due: int = 0
    instalments_on_time: int = 0
    instalments_missed: int = 0
    instalments_partial: int = 0
    disputes: int = 0
    pauses: int = 0
    callbacks: int = 0
    opt_outs: int = 0
    preferences_set: bool = False
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Typology:
    willing: float
    able: float
    organised: float
    emotional: float
    confidence: float
    code: str
    evidence: dict[str, float]


def _rate(part: float, whole: float, prior: float, strength: float) -> float:
    """A rate shrunk towards `prior` with `strength` pseudo-observations."""
    return (part + prior * strength) / (whole + strength)


def typology_score(inputs: TypologyInputs) -> Typology:
    """Score one debtor's four dimensions from their evidence (pure; see the module doc)."""
    i = inputs
    flags = set(i.flags or [])
    paid_share = min(1.0, i.amount_paid / i.original_total) if i.original_total > 0 else 0.0
    click_rate = _rate(i.clicks, i.sends, 0.05, 10)
    open_rate = _rate(i.opens, i.sends, 0.3, 5)
    ignored = max(0, i.sends - 3) if i.opens == 0 and i.clicks == 0 else 0

    willing = (
        6.0 * (click_rate - 0.05)
        + 1.5 * (open_rate - 0.3)
        + 0.8 * min(i.payments, 3)
        + 0.6 * min(i.plans, 2)
        + 0.3 * min(i.replies, 3)
        - 1.0 * min(i.disputes, 2)
        - 0.8 * min(i.complaints, 2)
        - 0.5 * min(i.opt_outs, 2)
        - 0.6 * min(i.plans_broken, 2)
        - 0.25 * math.log1p(ignored)
        - (1.0 if "cease_communication" in flags or "disputed" in flags else 0.0)
    )
    # Instalments paid in full and on time: evidence of both ability and organisation.
    on_time = _rate(i.instalments_on_time, i.instalments_due, 0.5, 2)
    partial_share = _rate(i.instalments_partial, i.instalments_due, 0.0, 2)
    able = (
        2.5 * paid_share
        + 0.8 * (on_time - 0.5)
        - 0.8 * partial_share
        - 0.6 * min(i.pauses, 2)
        - 2.0 * float("bankruptcy" in flags)
        - 0.3 * max(0.0, math.log10(max(i.balance_total, 1.0)) - 3.0)
    )
    organised = (
        2.0 * (on_time - 0.5)
        - 0.6 * min(i.instalments_missed, 3)
        - 0.3 * min(i.paid_after_due, 3)
        + 0.4 * float(i.preferences_set)
        + 0.3 * min(i.payments, 2) * float(i.instalments_missed == 0)
    )
    soft = _rate(i.soft_clicks, i.soft_sends, 0.05, 10)
    hard = _rate(i.hard_clicks, i.hard_sends, 0.05, 10)
    emotional = (
        12.0 * (soft - hard)
        + 0.4 * min(i.replies, 3)
        + 0.4 * min(i.callbacks, 2)
        + 0.3 * min(i.disputes, 2)
        + 0.3 * float("vulnerable" in flags)
    )
    evidence_n = (
        i.sends + 3 * i.payments + 2 * i.instalments_due + 2 * (i.disputes + i.pauses)
        + i.replies + i.callbacks + i.plans
    )  # fmt: skip
    confidence = 1.0 - math.exp(-evidence_n / 6.0)
    scores = [math.tanh(v) for v in (willing, able, organised, emotional)]
    letters = zip(scores, ("WD", "AI", "OC", "ER"), strict=True)
    code = "".join(pos if s >= 0 else neg for s, (pos, neg) in letters)
    # `vars`, not `asdict`: the same dict without deep copies (0.029 -> 0.010 ms a debtor).
    evidence = {k: v for k, v in vars(i).items() if k != "flags" and v}
    return Typology(*(round(s, 4) for s in scores), round(confidence, 4), code, evidence)


TYPE_NAMES = {
    "W": "willing",
    "D": "defiant",
    "A": "able",
    "I": "insolvent",
    "O": "organised",
    "C": "chaotic",
    "E": "emotional",
    "R": "rational",
}


def describe(code: str) -> str:
    """`WAOE` -> `willing, able, organised, emotional`."""
    return ", ".join(TYPE_NAMES.get(c, c) for c in code)
