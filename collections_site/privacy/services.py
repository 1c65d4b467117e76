"""The debtor's privacy rights, across every app (docs/privacy.md).

- `debtor_export`: one .zip of everything held about one debtor (a JSON file with each app's
  part, the messages as received, the uploaded documents), audited (a `PrivacyAction` and a
  `data_exported` timeline entry).
- `debtor_erase`: the debtor's personal data replaced by placeholders in every app, in one
  transaction with its audit and timeline entry, keeping what the law requires; refused while
  an account is open unless an agency admin forces it; a second erasure changes nothing.
- `retention_apply`: every retention period of `retention.plan()`, in batches, or with
  `dry_run` only the counts.
"""

from __future__ import annotations

import getpass
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from accounts import privacy as accounts_privacy
from accounts.models import Account, ActivityKind, Creditor, Debtor, DomainError
from accounts.services import activity_record
from collections_site.privacy import retention
from collections_site.privacy.models import PrivacyAction, PrivacyActionKind
from compliance import privacy as compliance_privacy
from messaging import privacy as messaging_privacy
from portal import privacy as portal_privacy
from recommender import privacy as recommender_privacy

FORCE_PERMISSION = "privacy.erase_open_debtor"
REASON_MAX = 1000

README = """Personal data export

This archive holds everything the collections platform stores about one person, as of the
time in personal-data.json ("generated_at"). Times are UTC; amounts are exact decimals in the
account's currency.

personal-data.json
  accounts     the creditor, the person's details, their accounts, payments, payment plans
               and instalments, and the timeline of everything that happened
  messaging    every message planned or sent, with its status and what happened to it
               (delivered, opened, clicked, replies)
  compliance   every check of whether a contact was allowed, with the rules and legal
               citations applied, and every contact attempt counted
  recommender  the behavioural profile used to choose messages and each choice made, with
               the information it was based on and its explanation
  portal       disputes, call-back requests, pauses, settlement offers, payment attempts,
               requests for a new link and link lockouts
messages/      each message as it was sent: e-mails (.eml), texts (.txt), letters (.html)
documents/     documents uploaded with a dispute
"""


class ErasureRefused(DomainError):
    """An erasure that may not happen (yet); the message says why and what to do."""


def command_actor(command: str) -> str:
    """The actor of a management command: the command and the system user who ran it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"command:{command}:{user}"[:100]


def debtor_by_ref(*, creditor_slug: str, debtor_ref: str) -> Debtor:
    """The debtor `debtor_ref` of creditor `creditor_slug`; `LookupError` with a message that
    names nothing of other tenants."""
    creditor = Creditor.objects.filter(slug=creditor_slug).first()
    if creditor is None:
        raise LookupError(f"No creditor with slug {creditor_slug!r}.")
    debtor = (
        Debtor.objects.select_related("creditor")
        .filter(creditor=creditor, external_ref=debtor_ref)
        .first()
    )
    if debtor is None:
        raise LookupError(f"No debtor {debtor_ref!r} for creditor {creditor_slug!r}.")
    return debtor


# --- export ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Export:
    filename: str
    content: bytes
    action_id: int
    counts: dict[str, int]


def debtor_export(*, debtor: Debtor, actor: str, user: Any = None) -> Export:
    """The archive of everything held about `debtor`, audited in one transaction."""
    now = timezone.now()
    data = {
        "format": "collections-platform personal data export, version 1",
        "generated_at": accounts_privacy.plain(now),
        "accounts": accounts_privacy.debtor_export(debtor=debtor),
        "messaging": messaging_privacy.debtor_export(debtor=debtor),
        "compliance": compliance_privacy.debtor_export(debtor=debtor),
        "recommender": recommender_privacy.debtor_export(debtor=debtor),
        "portal": portal_privacy.debtor_export(debtor=debtor),
    }
    rendered = messaging_privacy.debtor_rendered(debtor=debtor)
    documents = portal_privacy.debtor_documents(debtor=debtor)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", README)
        archive.writestr(
            "personal-data.json", json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        )
        for name, content in [*rendered, *documents]:
            archive.writestr(name, content)
    counts = {
        "accounts": len(data["accounts"]["accounts"]),
        "messages": len(data["messaging"]["messages"]),
        "rendered_messages": len(rendered),
        "documents": len(documents),
    }
    with transaction.atomic():
        action = PrivacyAction.objects.create(
            kind=PrivacyActionKind.EXPORT,
            creditor_id=debtor.creditor_id,
            debtor=debtor,
            at=now,
            actor=actor[:100],
            user=user if getattr(user, "pk", None) else None,
            details={"counts": counts},
        )
        activity_record(
            debtor=debtor,
            kind=ActivityKind.DATA_EXPORTED,
            summary="Personal data exported (subject access).",
            data={"privacy_action_id": action.pk, **counts},
            actor=actor,
            occurred_at=now,
        )
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    filename = f"personal-data-{debtor.creditor.slug}-{debtor.pk}-{stamp}.zip"
    return Export(filename, buffer.getvalue(), action.pk, counts)


# --- erasure -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erasure:
    debtor_id: int
    erased_at: datetime
    already: bool
    action_id: int | None = None
    forced: bool = False
    counts: dict[str, Any] = field(default_factory=dict)


def may_force(user: Any) -> bool:
    """Agency admins holding `privacy.erase_open_debtor` may erase a debtor whose accounts
    are open."""
    from accounts.tenancy import is_agency_staff

    return bool(user is not None and is_agency_staff(user) and user.has_perm(FORCE_PERMISSION))


def debtor_erase(
    *,
    debtor: Debtor,
    actor: str,
    reason: str,
    force: bool = False,
    allow_force: bool = False,
    user: Any = None,
) -> Erasure:
    """Erase `debtor`'s personal data in every app, in one transaction with its audit.

    Refused (`ErasureRefused`) without a reason, while any of the debtor's accounts is open
    unless `force` (which needs `allow_force`: an agency admin's or the command line's), and
    while a message to the debtor is being handed over. Forcing closes the open accounts
    first. A debtor already erased is left as it is (`Erasure.already`), except that files an
    earlier erasure could not delete are deleted now.
    """
    reason = _erasure_reason(reason, force=force, allow_force=allow_force)
    with transaction.atomic():
        locked = Debtor.objects.select_for_update().select_related("creditor").get(pk=debtor.pk)
        if locked.erased_at is not None:
            _files_delete(locked)
            return Erasure(locked.pk, locked.erased_at, already=True)
        accounts = list(Account.objects.select_for_update().filter(debtor=locked).order_by("pk"))
        still_open = [a for a in accounts if a.is_open]
        if still_open and not force:
            raise ErasureRefused(
                f"{len(still_open)} of this debtor's accounts are open. Personal data is "
                "erased once every account is final (paid, settled, recalled or closed); an "
                "agency admin may force it, which closes them."
            )
        names = accounts_privacy.identifiers(locked)
        now = timezone.now()
        closed = (
            accounts_privacy.accounts_close(
                debtor=locked, actor=actor, reason="The debtor's personal data is being erased."
            )
            if still_open
            else []
        )
        counts, documents = _erase_in_every_app(locked, names=names, actor=actor, at=now)
        action = _erasure_audit(
            locked,
            at=now,
            actor=actor,
            user=user,
            reason=reason,
            forced=bool(still_open),
            details={"counts": counts, "accounts_closed": closed, "documents": documents},
        )
        # Files just before the commit: a committed erasure never leaves a file behind (if
        # the commit itself failed, the rows are still there and the erasure is run again).
        _files_delete(locked, documents)
    return Erasure(locked.pk, now, already=False, action_id=action.pk, forced=bool(closed),
                   counts=counts)  # fmt: skip


def _erasure_reason(reason: str, *, force: bool, allow_force: bool) -> str:
    """The audited reason, stripped; refused when missing, too long, or forcing unallowed."""
    reason = (reason or "").strip()
    if not reason:
        raise ErasureRefused("Say why the personal data is erased: the reason is audited.")
    if len(reason) > REASON_MAX:
        raise ErasureRefused(f"Keep the reason under {REASON_MAX} characters.")
    if force and not allow_force:
        raise ErasureRefused(
            "Only an agency admin with the permission to erase debtors with open accounts "
            "may force an erasure."
        )
    return reason


def _erase_in_every_app(
    locked: Debtor, *, names: Any, actor: str, at: Any
) -> tuple[dict[str, Any], list[str]]:
    """Each app's own erasure of the locked debtor: the rows erased per app, and the files
    to delete once the rows are gone."""
    counts: dict[str, Any] = {}
    try:
        counts["messaging"] = messaging_privacy.debtor_erase(
            debtor=locked, names=names, actor=actor, at=at
        )
    except messaging_privacy.MessagesInFlight as exc:
        raise ErasureRefused(str(exc)) from exc
    counts["portal"], documents = portal_privacy.debtor_erase(debtor=locked, at=at)
    counts["recommender"] = recommender_privacy.debtor_erase(debtor=locked)
    counts["compliance"] = compliance_privacy.debtor_erase(debtor=locked)
    counts["admin_log"] = _admin_log_scrub(locked)
    # After the other apps: the timeline rows they wrote (cancelled messages) are covered.
    counts["accounts"] = accounts_privacy.debtor_erase(debtor=locked, names=names, at=at)
    return counts, documents


def _erasure_audit(
    locked: Debtor, *, at: Any, actor: str, user: Any, reason: str, forced: bool, details: dict
) -> PrivacyAction:
    """The erasure's `PrivacyAction` and the debtor's `data_erased` timeline entry."""
    action = PrivacyAction.objects.create(
        kind=PrivacyActionKind.ERASURE,
        creditor_id=locked.creditor_id,
        debtor=locked,
        at=at,
        actor=actor[:100],
        user=user if getattr(user, "pk", None) else None,
        reason=reason,
        forced=forced,
        details=details,
    )
    closed = details["accounts_closed"]
    activity_record(
        debtor=locked,
        kind=ActivityKind.DATA_ERASED,
        summary="Personal data erased"
        + (f"; {len(closed)} open account(s) closed first." if closed else "."),
        data={"privacy_action_id": action.pk, "accounts_closed": closed},
        actor=actor,
        occurred_at=at,
    )
    return action


def _files_delete(debtor: Debtor, documents: list[str] | None = None) -> int:
    if documents is None:  # a repeated erasure: what earlier ones listed
        documents = [
            name
            for details in PrivacyAction.objects.filter(
                debtor=debtor, kind=PrivacyActionKind.ERASURE
            ).values_list("details", flat=True)
            for name in (details or {}).get("documents", [])
        ]
    return messaging_privacy.debtor_outbox_files_remove(
        debtor=debtor
    ) + portal_privacy.documents_delete(documents)


def _admin_log_scrub(debtor: Debtor) -> int:
    """The Django admin's history names the debtor (its `object_repr` is the debtor's
    `__str__`, with the name): replace it on the debtor's entries."""
    return LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Debtor), object_id=str(debtor.pk)
    ).update(object_repr=f"{accounts_privacy.ERASED} ({debtor.external_ref})"[:200])


# --- retention ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionLine:
    kind: str
    region: str
    days: int
    count: int
    deferred: int = 0


def retention_apply(
    *, dry_run: bool, now: datetime | None = None, batch: int | None = None
) -> list[RetentionLine]:
    """Apply every retention period (or count, with `dry_run`). Each kind works in batches,
    one transaction each (a closed debtor's erasure is one transaction), so a killed run
    leaves whole batches done and the next run takes the rest."""
    now = now or timezone.now()
    batch = batch or settings.PRIVACY_RETENTION_BATCH
    config = retention.configuration()
    keys = list(config)
    lines = []
    for kind, key, period in retention.plan(config):
        cutoff = now - timedelta(days=period.days)
        region = retention.region_filter(key, keys)
        deferred = 0
        if kind == "message_content":
            count = messaging_privacy.contents_remove(
                region=region("debtor__region"),
                cutoff=cutoff,
                after_final=period.after_final,
                batch=batch,
                dry_run=dry_run,
            )
        elif kind == "compliance_decisions":
            count = compliance_privacy.decisions_remove(
                region=region("region"),
                cutoff=cutoff,
                after_final=period.after_final,
                batch=batch,
                dry_run=dry_run,
            )
        elif kind == "closed_accounts":
            count, deferred = _closed_debtors_erase(
                region=region("region"), cutoff=cutoff, key=key, period=period, batch=batch,
                dry_run=dry_run,
            )  # fmt: skip
        elif kind == "portal_ip_digests":
            count = portal_privacy.ip_digests_remove(
                idle_before=cutoff, batch=batch, dry_run=dry_run
            )
        else:  # pragma: no cover - retention.KINDS and this function change together
            raise ValueError(f"unknown retention kind {kind!r}")
        lines.append(RetentionLine(kind, key, period.days, count, deferred))
    return lines


def _closed_debtors_erase(
    *, region, cutoff: datetime, key: str, period: retention.Period, batch: int, dry_run: bool
) -> tuple[int, int]:
    due = accounts_privacy.debtors_closed_before(region=region, cutoff=cutoff)
    if dry_run:
        return due.count(), 0
    erased = deferred = 0
    last = 0
    while True:
        ids = list(due.filter(pk__gt=last)[:batch])
        if not ids:
            return erased, deferred
        for debtor in Debtor.objects.filter(pk__in=ids).order_by("pk"):
            try:
                result = debtor_erase(
                    debtor=debtor,
                    actor="retention",
                    reason=f"Retention ({key}): every account final for more than "
                    f"{period.days} days.",
                )
            except ErasureRefused:
                deferred += 1  # a message in flight: the next run takes it
                continue
            erased += 0 if result.already else 1
        last = ids[-1]
