"""Placement: accounts (with their debtors) upserted by external reference, idempotently, each
change with its timeline row."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.bulk import bulk_insert, bulk_update_by_key
from accounts.models import (
    CHANNELS,
    Account,
    Activity,
    ActivityKind,
    Creditor,
    Debtor,
    DebtorFlag,
    DomainError,
    opt_out_flag,
)
from accounts.placement import (
    ACCOUNT_UPDATABLE,
    DEBTOR_UPDATABLE,
    CleanRow,
    displayable,
    validate_row,
)
from accounts.webhooks.events import accounts_placed


class PlacementTooLarge(DomainError):
    """More rows than one placement may carry."""


@dataclass
class PlacementResult:
    """What a placement did, row by row (rows are identified by account external_ref)."""

    received: int = 0
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "summary": {
                "received": self.received,
                "created": len(self.created),
                "updated": len(self.updated),
                "unchanged": len(self.unchanged),
                "rejected": len(self.rejected),
            },
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }


ERASED_DEBTOR_ERROR = (
    "This debtor's personal data was erased at their request or by retention; the reference "
    "cannot be placed again."
)

_CHUNK = 2000  # rows per query: keeps IN lists and parameter counts well inside every backend


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _reject(result: PlacementResult, row: CleanRow, errors: dict[str, Any]) -> None:
    result.rejected.append(
        {"index": row.index, "external_ref": row.account["external_ref"], "errors": errors}
    )


# Flags that record the debtor's own requests: a re-placement may add flags but never
# removes these (a creditor's file must not undo an opt-out given in the portal or by SMS).
DEBTOR_OWNED_FLAGS = frozenset(
    {*(opt_out_flag(channel) for channel in CHANNELS), DebtorFlag.CEASE_COMMUNICATION.value}
)


def _debtor_values(existing: dict[str, Any]) -> dict[str, Any]:
    values = {name: existing[name] for name in DEBTOR_UPDATABLE}
    values["flags"] = sorted(values["flags"] or [])
    return values


def placement_upsert(
    *,
    creditor: Creditor,
    rows: Sequence[Any],
    actor: str,
    max_rows: int | None = None,
) -> PlacementResult:
    """Place accounts (with their debtors), upserting by external_ref; idempotent.

    Each row is validated on its own: valid rows are saved even when others are rejected, and
    each rejected row is reported with its index and field errors. A re-placed account keeps
    its balance, status and history; its debtor's details, description and due date are
    updated, and a change of currency, original amount or debtor is refused (recall and place
    again for that). Placements of one creditor run one at a time (the creditor row is locked),
    so concurrent uploads of the same file cannot create duplicates.
    """
    if max_rows is not None and len(rows) > max_rows:
        raise PlacementTooLarge(
            f"A placement may carry at most {max_rows:,} rows; this one has {len(rows):,}. "
            "Split it into several requests."
        )
    result = PlacementResult(received=len(rows))
    clean: list[CleanRow] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        ok, errors = validate_row(index, row, default_currency=creditor.default_currency)
        if ok is None:
            ref = row.get("external_ref") if isinstance(row, dict) else None
            result.rejected.append(
                {"index": index, "external_ref": displayable(ref) if isinstance(ref, str) else None,
                 "errors": errors}
            )  # fmt: skip
            continue
        ref = ok.account["external_ref"]
        if ref in seen:
            _reject(result, ok, {"external_ref": ["Appears more than once in this placement."]})
            continue
        seen.add(ref)
        clean.append(ok)

    with transaction.atomic():
        Creditor.objects.select_for_update().filter(pk=creditor.pk).first()
        for chunk in _chunks(clean):
            _upsert_chunk(creditor, chunk, actor, result)
    result.rejected.sort(key=lambda r: r["index"])
    return result


def _upsert_chunk(
    creditor: Creditor, rows: Sequence[CleanRow], actor: str, result: PlacementResult
) -> None:
    """Refuse the rows a re-placement may not make, then upsert debtors, then accounts."""
    now = timezone.now()
    refs = [r.account["external_ref"] for r in rows]
    existing_accounts = {
        a["external_ref"]: a
        for a in Account.objects.filter(creditor=creditor, external_ref__in=refs).values(
            "id",
            "external_ref",
            "currency",
            "original_amount",
            "debtor__external_ref",
            "debtor_id",
            "description",
            "due_date",
        )
    }
    accepted = _rows_accepted(creditor, rows, existing_accounts, result)
    if not accepted:
        return
    debtor_ids, changed_debtor_fields = _debtors_upsert(creditor, accepted, now)
    _accounts_upsert(
        creditor, accepted, existing_accounts, debtor_ids, changed_debtor_fields,
        actor=actor, now=now, result=result,
    )  # fmt: skip


def _rows_accepted(
    creditor: Creditor,
    rows: Sequence[CleanRow],
    existing_accounts: dict[str, dict[str, Any]],
    result: PlacementResult,
) -> list[CleanRow]:
    """The rows that may be written: not an erased debtor, and no change of currency,
    original amount or debtor to an account already placed (those are rejected)."""
    # A debtor whose personal data was erased is never filled in again under the same
    # reference (docs/privacy.md).
    erased = set(
        Debtor.objects.filter(
            creditor=creditor,
            external_ref__in={r.debtor["external_ref"] for r in rows},
            erased_at__isnull=False,
        ).values_list("external_ref", flat=True)
    )
    accepted: list[CleanRow] = []
    for row in rows:
        if row.debtor["external_ref"] in erased:
            _reject(result, row, {"debtor": {"external_ref": [ERASED_DEBTOR_ERROR]}})
            continue
        old = existing_accounts.get(row.account["external_ref"])
        if old is not None:
            errors = {}
            if old["currency"] != row.account["currency"]:
                errors["currency"] = ["Cannot change once placed (recall and place again)."]
            elif old["original_amount"] != row.account["original_amount"]:
                errors["original_amount"] = ["Cannot change once placed (recall and place again)."]
            if old["debtor__external_ref"] != row.debtor["external_ref"]:
                errors["debtor"] = {
                    "external_ref": ["The account already belongs to another debtor."]
                }
            if errors:
                _reject(result, row, errors)
                continue
        accepted.append(row)
    return accepted


def _debtors_upsert(
    creditor: Creditor, accepted: Sequence[CleanRow], now
) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Insert new debtors and update changed ones; (ids by reference, changed fields by
    reference). The last row that mentions a debtor wins, as if rows were applied in order."""
    debtor_rows: dict[str, dict[str, Any]] = {}
    for row in accepted:
        debtor_rows[row.debtor["external_ref"]] = row.debtor
    existing_debtors = {
        d["external_ref"]: d
        for d in Debtor.objects.filter(
            creditor=creditor, external_ref__in=list(debtor_rows)
        ).values("id", "external_ref", *DEBTOR_UPDATABLE)
    }
    debtor_ids = {ref: d["id"] for ref, d in existing_debtors.items()}
    changed_debtor_fields: dict[str, list[str]] = {}
    new_debtors: list[Debtor] = []
    changed_debtors: list[Debtor] = []
    for ref, values in debtor_rows.items():
        old = existing_debtors.get(ref)
        if old is None:
            new_debtors.append(
                Debtor(creditor_id=creditor.pk, created_at=now, updated_at=now, **values)
            )
            continue
        old_values = _debtor_values(old)
        # What the debtor told us (opt-outs, cease) outlives any creditor file.
        kept = [f for f in old_values["flags"] if f in DEBTOR_OWNED_FLAGS]
        if kept:
            values = {**values, "flags": sorted({*values["flags"], *kept})}
        diff = [name for name in DEBTOR_UPDATABLE if old_values[name] != values[name]]
        if diff:
            changed_debtor_fields[ref] = diff
            changed_debtors.append(
                Debtor(creditor_id=creditor.pk, created_at=now, updated_at=now, **values)
            )
    if changed_debtors:
        bulk_update_by_key(
            Debtor,
            changed_debtors,
            key=["creditor", "external_ref"],
            fields=[*DEBTOR_UPDATABLE, "updated_at"],
        )
    if new_debtors:
        bulk_insert(Debtor, new_debtors)
        debtor_ids.update(
            Debtor.objects.filter(
                creditor=creditor, external_ref__in=[d.external_ref for d in new_debtors]
            ).values_list("external_ref", "id")
        )
    return debtor_ids, changed_debtor_fields


def _accounts_upsert(
    creditor: Creditor,
    accepted: Sequence[CleanRow],
    existing_accounts: dict[str, dict[str, Any]],
    debtor_ids: dict[str, int],
    changed_debtor_fields: dict[str, list[str]],
    *,
    actor: str,
    now,
    result: PlacementResult,
) -> None:
    """Insert new accounts and update changed ones, with a `placed` or `updated` timeline
    entry each (an account whose debtor changed counts as updated)."""
    new_accounts, changed_accounts, activities = _accounts_sort(
        creditor,
        accepted,
        existing_accounts,
        debtor_ids,
        changed_debtor_fields,
        actor=actor,
        now=now,
        result=result,
    )
    if new_accounts:
        bulk_insert(Account, new_accounts)
        placed = list(
            Account.objects.filter(
                creditor=creditor, external_ref__in=[a.external_ref for a in new_accounts]
            ).select_related("debtor")
        )
        new_ids = {account.external_ref: account.pk for account in placed}
        accounts_placed(placed)
        activities.extend(
            Activity(
                creditor_id=creditor.pk,
                debtor_id=account.debtor_id,
                account_id=new_ids[account.external_ref],
                kind=ActivityKind.PLACED,
                summary=f"Account placed: {account.original_amount} {account.currency}.",
                data={"external_ref": account.external_ref},
                actor=actor,
                occurred_at=now,
            )
            for account in new_accounts
        )
    if changed_accounts:
        bulk_update_by_key(
            Account,
            changed_accounts,
            key=["creditor", "external_ref"],
            fields=[*ACCOUNT_UPDATABLE, "updated_at"],
        )
    bulk_insert(Activity, activities)


def _accounts_sort(
    creditor: Creditor,
    accepted: Sequence[CleanRow],
    existing_accounts: dict[str, dict[str, Any]],
    debtor_ids: dict[str, int],
    changed_debtor_fields: dict[str, list[str]],
    *,
    actor: str,
    now,
    result: PlacementResult,
) -> tuple[list[Account], list[Account], list[Activity]]:
    """Sort the accepted rows into accounts to insert, accounts to update and their `updated`
    timeline entries, noting each reference in `result` (created, updated or unchanged)."""
    new_accounts: list[Account] = []
    changed_accounts: list[Account] = []
    activities: list[Activity] = []
    for row in accepted:
        ref = row.account["external_ref"]
        debtor_ref = row.debtor["external_ref"]
        debtor_id = debtor_ids[debtor_ref]
        old = existing_accounts.get(ref)
        if old is None:
            new_accounts.append(
                Account(
                    creditor_id=creditor.pk,
                    debtor_id=debtor_id,
                    placed_at=now,
                    status_changed_at=now,
                    updated_at=now,
                    **row.account,
                )
            )
            result.created.append(ref)
            continue
        diff = [name for name in ACCOUNT_UPDATABLE if old[name] != row.account[name]]
        debtor_diff = changed_debtor_fields.pop(debtor_ref, [])
        if diff:
            changed_accounts.append(
                Account(creditor_id=creditor.pk, debtor_id=debtor_id, updated_at=now, **row.account)
            )
        if diff or debtor_diff:
            result.updated.append(ref)
            activities.append(
                Activity(
                    creditor_id=creditor.pk,
                    debtor_id=debtor_id,
                    account_id=old["id"],
                    kind=ActivityKind.UPDATED,
                    summary="Creditor updated the placement details.",
                    data={"account_fields": diff, "debtor_fields": debtor_diff},
                    actor=actor,
                    occurred_at=now,
                )
            )
        else:
            result.unchanged.append(ref)
    return new_accounts, changed_accounts, activities
