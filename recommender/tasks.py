"""django-q2 tasks of the recommender. Each loads what it needs and calls one service; each is
safe to run twice (the planner's slots are unique, retraining writes a new candidate, the
typology is an upsert). Schedules: migration 0002 (hourly planning, nightly typology and
retraining)."""

from __future__ import annotations

import logging
from typing import Any

from recommender import services

log = logging.getLogger(__name__)


def plan_contacts_task() -> dict[str, Any]:
    """Hourly: plan the next message of every account due a contact."""
    return services.plan_contacts().as_dict()


def model_retrain_task(actor: str = "system:nightly") -> dict[str, Any]:
    """Nightly (and from the admin action): train a candidate, promote it if not worse."""
    try:
        model = services.model_retrain(actor=actor)
    except services.RetrainSkipped as exc:
        log.info("retraining skipped: %s", exc)
        return {"skipped": str(exc)}
    return {"model": model.label, "status": model.status}


def typology_refresh_task(debtor_ids: list[int] | None = None) -> int:
    """Nightly: recompute the typology of debtors with open accounts (or the given ids)."""
    return services.typology_refresh(debtor_ids=debtor_ids)
