"""The portal's share of a debtor's privacy rights (docs/privacy.md).

- `debtor_export`: everything the debtor asked for in the portal: disputes (their documents
  go into the archive through `debtor_documents`), call-backs, pauses, settlement offers,
  checkouts, fresh-link requests, and the lockout counters of the debtor's links (the
  identity attempts themselves are on the timeline, exported by `accounts`).
- `debtor_erase`: a dispute's free text and uploaded document, the staff notes on disputes and
  calls (they may repeat what the debtor said), a pause's reason (it may say "illness"), and
  open call-back tasks (there is no number left to call) go. Kept: what was
  asked and when, and amounts (settlement offers and checkouts are payment records).
- `documents_delete`: uploaded files, deleted from storage just before the erasure commits.
- `ip_digests_remove`: the per-IP lockout counters hold a keyed digest of an address, never
  a debtor; retention deletes the counters that no longer lock anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q

from accounts.models import Activity, ActivityKind, Debtor
from accounts.privacy import ERASED, row
from portal.models import (
    CallbackRequest,
    CallbackStatus,
    Checkout,
    LinkRequest,
    LockScope,
    PauseRequest,
    PortalDispute,
    SettlementOffer,
    VerificationLock,
)

ERASURE_ACTOR = "privacy:erasure"


def _document_name(dispute: PortalDispute) -> str:
    extension = dispute.document.name.rsplit(".", 1)[-1] if "." in dispute.document.name else ""
    return f"documents/dispute-{dispute.pk}" + (f".{extension}" if extension else "")


def _link_ids(debtor: Debtor) -> set[str]:
    """The ids (jti) of the debtor's portal links that were used or asked to be replaced."""
    used = Activity.objects.filter(
        debtor=debtor, kind=ActivityKind.PORTAL, data__has_key="jti"
    ).values_list("data__jti", flat=True)
    replaced = LinkRequest.objects.filter(debtor=debtor).values_list("old_jti", flat=True)
    return {str(j) for j in [*used, *replaced] if j}


def debtor_export(*, debtor: Debtor) -> dict[str, Any]:
    disputes = PortalDispute.objects.filter(account__debtor=debtor).order_by("created_at", "id")
    return {
        "disputes": [
            {
                **row(d, exclude=("document",)),
                "document": _document_name(d) if d.document else "",
            }
            for d in disputes
        ],
        "callback_requests": [
            row(c) for c in CallbackRequest.objects.filter(debtor=debtor).order_by("created_at")
        ],
        "pauses": [
            row(p)
            for p in PauseRequest.objects.filter(account__debtor=debtor).order_by("created_at")
        ],
        "settlement_offers": [
            row(o)
            for o in SettlementOffer.objects.filter(account__debtor=debtor).order_by("created_at")
        ],
        "checkouts": [
            row(c) for c in Checkout.objects.filter(debtor=debtor).order_by("created_at")
        ],
        "link_requests": [
            row(r) for r in LinkRequest.objects.filter(debtor=debtor).order_by("created_at")
        ],
        "link_lockouts": [
            row(v, exclude=("id",))
            for v in VerificationLock.objects.filter(
                scope=LockScope.LINK, key__in=_link_ids(debtor)
            ).order_by("id")
        ],
    }


def debtor_documents(*, debtor: Debtor) -> list[tuple[str, bytes]]:
    """(archive path, content) of every document the debtor uploaded."""
    files = []
    for dispute in PortalDispute.objects.filter(account__debtor=debtor).exclude(document=""):
        try:
            with dispute.document.open("rb") as handle:
                files.append((_document_name(dispute), handle.read()))
        except FileNotFoundError:
            continue  # listed in the JSON; the file itself is gone
    return files


def debtor_erase(*, debtor: Debtor, at: datetime) -> tuple[dict[str, int], list[str]]:
    """Remove the portal's personal data of `debtor`; call inside the erasure's transaction.
    Returns the counts and the storage names of the documents, for `documents_delete`."""
    documents = []
    details = 0
    for dispute in PortalDispute.objects.filter(account__debtor=debtor).order_by("id"):
        fields = []
        if dispute.details:
            dispute.details = ERASED
            fields.append("details")
            details += 1
        if dispute.resolution_note:
            dispute.resolution_note = ERASED
            fields.append("resolution_note")
        if dispute.document:
            documents.append(dispute.document.name)
            dispute.document = ""
            fields.append("document")
        if fields:
            dispute.save(update_fields=fields)
    pauses = PauseRequest.objects.filter(account__debtor=debtor).exclude(reason=ERASED)
    pauses = pauses.update(reason=ERASED)
    CallbackRequest.objects.filter(debtor=debtor).exclude(outcome_note="").update(
        outcome_note=ERASED
    )
    callbacks = CallbackRequest.objects.filter(debtor=debtor, status=CallbackStatus.OPEN).update(
        status=CallbackStatus.DONE, done_at=at, done_by=ERASURE_ACTOR
    )
    return (
        {
            "dispute_details": details,
            "documents": len(documents),
            "pause_reasons": pauses,
            "callbacks_closed": callbacks,
        },
        documents,
    )


def documents_delete(names: Iterable[str]) -> int:
    """Delete uploaded documents from storage (safe to repeat); how many were there."""
    storage = PortalDispute._meta.get_field("document").storage
    done = 0
    for name in names:
        if name and storage.exists(name):
            storage.delete(name)
            done += 1
    return done


def ip_digests_remove(*, idle_before: datetime, batch: int, dry_run: bool) -> int:
    """Delete per-IP lockout counters that lock nothing and counted nothing since
    `idle_before`; how many (with `dry_run`, how many would go)."""
    idle = VerificationLock.objects.filter(
        Q(locked_until__isnull=True) | Q(locked_until__lt=idle_before),
        scope=LockScope.IP,
        window_started_at__lt=idle_before,
    )
    if dry_run:
        return idle.count()
    removed = 0
    while True:
        with transaction.atomic():
            ids = list(idle.order_by("id").values_list("id", flat=True)[:batch])
            if not ids:
                return removed
            removed += VerificationLock.objects.filter(pk__in=ids).delete()[0]
