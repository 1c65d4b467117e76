"""The debtor's timeline and the staff access log: one insert each, inside the caller's
transaction."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from accounts.models import Account, Activity, Debtor, DebtorDataAccess


def activity_record(
    *,
    debtor: Debtor,
    kind: str,
    summary: str,
    actor: str,
    account: Account | None = None,
    data: dict[str, Any] | None = None,
    occurred_at=None,
) -> Activity:
    """Append one entry to a debtor's timeline. Call it inside the transaction of the change."""
    return Activity.objects.create(
        creditor_id=debtor.creditor_id,
        debtor=debtor,
        account=account,
        kind=kind,
        summary=summary[:300],
        data=data or {},
        actor=actor[:100],
        occurred_at=occurred_at or timezone.now(),
    )


def debtor_data_access_record(*, user: Any, debtor: Debtor, page: str) -> DebtorDataAccess:
    """A staff user opened `page` (a path), which shows `debtor`'s personal data: one insert,
    ids and the path only (docs/privacy.md, "The staff access log")."""
    return DebtorDataAccess.objects.create(
        user_id=getattr(user, "pk", None),
        creditor_id=debtor.creditor_id,
        debtor_id=debtor.pk,
        page=page[:200],
    )
