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


def typology_refresh(
    *,
    debtor_ids: Iterable[int] | None = None,
    now: datetime | None = None,
    batch_size: int = 2000,
) -> int:
    """Recompute the typology of the given debtors (default: every debtor with an open
    account); returns how many were written. Constant queries per batch; idempotent."""
    now = now or timezone.now()
    if debtor_ids is None:
        ids = list(
            Account.objects.filter(status__in=list(OPEN_STATUSES))
            .values_list("debtor_id", flat=True)
            .distinct()
            .order_by("debtor_id")
        )
    else:
        ids = sorted(set(debtor_ids))
    written = 0
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        inputs = typology_inputs(debtor_ids=chunk, now=now)
        rows = []
        for debtor_id in chunk:
            t = typology_score(inputs[debtor_id])
            rows.append(
                DebtorTypology(
                    debtor_id=debtor_id,
                    willing=t.willing,
                    able=t.able,
                    organised=t.organised,
                    emotional=t.emotional,
                    confidence=t.confidence,
                    code=t.code,
                    evidence=t.evidence,
                    updated_at=now,
                )
            )
        with transaction.atomic():
            DebtorTypology.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["debtor"],
                update_fields=[
                    "willing", "able", "organised", "emotional", "confidence", "code",
                    "evidence", "updated_at",
                ],
            )  # fmt: skip
        written += len(rows)
    return written
