"""Debtor typologies, recomputed from behaviour (the nightly task)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import OPEN_STATUSES, Account
from recommender.evidence import typology_inputs
from recommender.models import DebtorTypology
from recommender.typology import typology_score

_SCORED = ("willing", "able", "organised", "emotional", "confidence", "code", "evidence")
"""The stored fields a refresh compares and writes (each a field of `Typology` too)."""


def typology_refresh(
    *,
    debtor_ids: Iterable[int] | None = None,
    now: datetime | None = None,
    batch_size: int = 2000,
) -> int:
    """Recompute the typology of the given debtors (default: every debtor with an open
    account); returns how many were recomputed. A row is written (`updated_at`: now) only
    when its scores, code or evidence changed, or it is new: most debtors had no new
    evidence since the last night. Constant queries per batch; idempotent."""
    now = now or timezone.now()
    if debtor_ids is None:
        ids = list(
            Account.objects.filter(status__in=list(OPEN_STATUSES))
            .values_list("debtor_id", flat=True)
            .distinct()
            .order_by("debtor_id")
        )
    else:
        ids = sorted({int(d) for d in debtor_ids})
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        inputs = typology_inputs(debtor_ids=chunk, now=now)
        stored = {
            row[0]: row[1:]
            for row in DebtorTypology.objects.filter(debtor_id__any=chunk).values_list(
                "debtor_id", *_SCORED
            )
        }
        rows = []
        for debtor_id in chunk:
            t = typology_score(inputs[debtor_id])
            scored = {name: getattr(t, name) for name in _SCORED}
            if stored.get(debtor_id) != tuple(scored.values()):
                rows.append(DebtorTypology(debtor_id=debtor_id, updated_at=now, **scored))
        with transaction.atomic():
            DebtorTypology.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["debtor"],
                update_fields=[*_SCORED, "updated_at"],
            )
    return len(ids)
