"""The compliance app's share of a debtor's privacy rights (docs/privacy.md).

- `debtor_export`: every compliance decision about contacting the debtor (with its reasons
  and citations) and every contact attempt in the ledger.
- `debtor_erase`: nothing is erased here. Decisions and the contact ledger hold ids, times,
  channels, the region and the rule citations, no name or address; they are the audit the
  collection laws ask for (a regulator asks why a contact was allowed) and the history that
  frequency caps and quiet periods count, so they stay, pointing at the pseudonymous debtor.
- `decisions_remove`: the retention of decisions, in batches.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q

from accounts.models import OPEN_STATUSES, Debtor
from accounts.privacy import row
from compliance.models import ComplianceDecision, ContactAttempt


def debtor_export(*, debtor: Debtor) -> dict[str, Any]:
    return {
        "decisions": [
            row(d)
            for d in ComplianceDecision.objects.filter(debtor=debtor).order_by("created_at", "id")
        ],
        "contact_attempts": [
            row(c) for c in ContactAttempt.objects.filter(debtor=debtor).order_by("at", "id")
        ],
    }


def debtor_erase(*, debtor: Debtor) -> dict[str, int]:
    """Counts what is kept (see the module docstring): nothing here names the debtor."""
    return {
        "decisions_kept": ComplianceDecision.objects.filter(debtor=debtor).count(),
        "contact_attempts_kept": ContactAttempt.objects.filter(debtor=debtor).count(),
    }


def _expired(*, region: Q, cutoff: datetime, after_final: bool):
    """Decisions older than `cutoff` in `region` (a Q on `ComplianceDecision`). With
    `after_final`, only those whose account is final since before `cutoff` too (the period
    counts from the last collection activity on the debt)."""
    expired = ComplianceDecision.objects.filter(region, created_at__lt=cutoff)
    if after_final:
        final_long_ago = ~Q(account__status__in=list(OPEN_STATUSES)) & Q(
            account__status_changed_at__lt=cutoff
        )
        expired = expired.filter(Q(account__isnull=True) | final_long_ago)
    return expired


def decisions_remove(
    *, region: Q, cutoff: datetime, after_final: bool, batch: int, dry_run: bool
) -> int:
    """Delete the expired decisions (how many; with `dry_run`, how many would go), one
    transaction per `batch` rows. A killed run leaves whole batches done and the rest for the
    next run."""
    expired = _expired(region=region, cutoff=cutoff, after_final=after_final)
    if dry_run:
        return expired.count()
    removed = 0
    while True:
        with transaction.atomic():
            ids = list(expired.order_by("id").values_list("id", flat=True)[:batch])
            if not ids:
                return removed
            removed += ComplianceDecision.objects.filter(pk__in=ids).delete()[0]
