"""The recommender's share of a debtor's privacy rights (docs/privacy.md).

- `debtor_export`: the debtor's behavioural typology (scores, type and what it was computed
  from) and every decision the planner made for them: the context it saw (named features),
  the kinds of message it could choose from, what it chose, with which probability and model,
  and the explanation it gave.
- `debtor_erase`: both are a profile of the person, which no law asks to keep: the typology
  and the decision log rows are deleted (the learner trains on the others). The messages keep
  their arm and propensity, which the uplift report counts.
"""

from __future__ import annotations

from typing import Any

from accounts.models import Debtor
from accounts.privacy import row
from recommender import features as F
from recommender.models import DebtorTypology, Decision


def _context(decision: Decision) -> dict[str, float] | list[float]:
    data = bytes(decision.context)
    values = Decision.unpack_context(data, len(data) // 4).tolist()
    if decision.feature_version == F.FEATURE_VERSION and len(values) == F.N_FEATURES:
        return dict(zip(F.CONTEXT_FEATURES, values, strict=True))
    return values  # features of another version: their names are not known here


def _eligible(decision: Decision) -> list[str]:
    if decision.feature_version != F.FEATURE_VERSION:
        return []
    mask = Decision.unpack_eligible(decision.eligible, F.N_ACTIONS)
    return [F.ACTIONS[i].label for i, ok in enumerate(mask) if ok]


def debtor_export(*, debtor: Debtor) -> dict[str, Any]:
    typology = DebtorTypology.objects.filter(debtor=debtor).first()
    decisions = (
        Decision.objects.filter(debtor=debtor)
        .select_related("message", "model_version")
        .order_by("decided_at", "id")
    )
    return {
        "typology": {**row(typology), "description": typology.description} if typology else None,
        "decisions": [
            {
                **row(d, exclude=("context", "eligible", "model_version")),
                "model": d.model_version.label if d.model_version else "",
                "kind_of_message": F.ACTIONS[d.action].label
                if d.feature_version == F.FEATURE_VERSION and d.action < F.N_ACTIONS
                else str(d.action),
                "context": _context(d),
                "eligible_kinds": _eligible(d),
                "explanation": d.message.explanation,
            }
            for d in decisions
        ],
    }


def debtor_erase(*, debtor: Debtor) -> dict[str, int]:
    """Delete the debtor's typology and decision log; call inside the erasure's transaction."""
    return {
        "typology_deleted": DebtorTypology.objects.filter(debtor=debtor).delete()[0],
        "decisions_deleted": Decision.objects.filter(debtor=debtor).delete()[0],
    }
