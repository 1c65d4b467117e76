"""django-q2 tasks of the recommender. Each loads what it needs and calls one service; each is
safe to run twice (the planner's slots are unique, retraining writes a new candidate, the
typology is an upsert). Schedules: migration 0002 (hourly planning, nightly typology and
retraining)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.utils import timezone

from recommender import services

log = logging.getLogger(__name__)


def plan_contacts_task(
    part: int | None = None, parts: int | None = None, now: str | None = None
) -> dict[str, Any]:
    """Hourly: plan the next message of every account due a contact.

    With `RECOMMENDER_PLAN_PARTS` > 1 the scheduled run (no arguments) enqueues one task per
    part, all with the same planning time, for the cluster's workers to run side by side;
    each part plans a disjoint set of debtors. A part re-run plans nothing twice (slots)."""
    parts = parts or services.plan_parts()
    if part is None and parts > 1:
        from django_q.tasks import async_task

        at = timezone.now().isoformat()
        for p in range(parts):
            async_task("recommender.tasks.plan_contacts_task", p, parts, at, group="plan_contacts")
        return {"parts": parts, "now": at}
    when = datetime.fromisoformat(now) if now else None
    return services.plan_contacts(now=when, part=part or 0, parts=parts).as_dict()


def model_retrain_task(
    actor: str = "system:nightly", wait_for_growth: bool = True
) -> dict[str, Any]:
    """Nightly (and from the admin action): train a candidate, promote it if not worse.
    `wait_for_growth=False` (an operator's "Retrain now") fits even if the logs have not grown
    by RECOMMENDER_RETRAIN_MIN_NEW_SHARE since the live model's data."""
    options = None if wait_for_growth else services.RetrainOptions.from_settings(min_new_share=0)
    try:
        model = services.model_retrain(actor=actor, options=options)
    except services.RetrainSkipped as exc:
        log.info("retraining skipped: %s", exc)
        return {"skipped": str(exc)}
    return {"model": model.label, "status": model.status}


def typology_refresh_task(debtor_ids: list[int] | None = None) -> int:
    """Nightly: recompute the typology of debtors with open accounts (or the given ids)."""
    return services.typology_refresh(debtor_ids=debtor_ids)
