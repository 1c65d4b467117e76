"""The accounts app's share of a debtor's privacy rights (docs/privacy.md).

- `row` / `plain`: a model row as plain JSON-able values; every app's export uses them.
- `debtor_export`: the debtor, their accounts, payments, plans and instalments and the
  timeline, as plain dicts (the subject access export).
- `identifiers` / `scrub`: the debtor's identifying strings, and text with them replaced (for
  the few free texts that may quote them, such as a mail server's refusal on the timeline).
- `accounts_close`: a forced erasure closes the debtor's open accounts first.
- `debtor_erase`: the debtor's personal data replaced by placeholders. The row stays as the
  pseudonymous id that what the law keeps (accounts, amounts, payments, plans, the timeline
  of ids and codes) still points at.
- `debtors_closed_before`: debtors all of whose accounts became final before a date (the
  retention of closed accounts).

The project's privacy app (`collections_site/privacy`) calls these inside its one
transaction per debtor, with the other apps' own `privacy` modules.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from django.db.models import Exists, Max, Model, OuterRef, Q, QuerySet
from django.db.models.fields.files import FieldFile

from accounts import services
from accounts.models import (
    OPEN_STATUSES,
    Account,
    Activity,
    Debtor,
    DebtorFlag,
    Payment,
    PaymentPlan,
)

ERASED = "[erased]"
"""What an erased text field holds: not a value anybody could have had, and never derived from
the value it replaces (irreversible)."""

# Flags kept by an erasure: the debtor's own requests and recorded consents are the evidence
# behind the contact history that is kept. The others (vulnerable, deceased, bankruptcy, ...)
# describe the person and go.
KEPT_FLAGS = frozenset(services.DEBTOR_OWNED_FLAGS) | frozenset(
    f for f in DebtorFlag.values if f.startswith("consent_")
)


# --- plain values ------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """`value` as JSON can carry it: times in UTC ISO 8601, amounts as exact decimal strings."""
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, FieldFile):
        return value.name or ""
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def row(obj: Model, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """Every stored column of `obj` (foreign keys as `<name>_id`), as plain values."""
    skip = set(exclude)
    return {
        field.attname: plain(getattr(obj, field.attname))
        for field in obj._meta.concrete_fields
        if field.name not in skip and field.attname not in skip
    }


# --- export ------------------------------------------------------------------------------------


def debtor_export(*, debtor: Debtor) -> dict[str, Any]:
    """What the accounts app holds about `debtor`."""
    plans = (
        PaymentPlan.objects.filter(account__debtor=debtor)
        .prefetch_related("installments")
        .order_by("created_at", "id")
    )
    return {
        "creditor": {"name": debtor.creditor.name, "display_name": debtor.creditor.display_name},
        "debtor": row(debtor),
        "accounts": [
            {**row(a), "status_label": str(a.get_status_display())}
            for a in Account.objects.filter(debtor=debtor).order_by("placed_at", "id")
        ],
        "payments": [
            row(p)
            for p in Payment.objects.filter(account__debtor=debtor).order_by("received_at", "id")
        ],
        "payment_plans": [
            {**row(plan), "instalments": [row(i) for i in plan.installments.all()]}
            for plan in plans
        ],
        "timeline": [
            {**row(a), "kind_label": str(a.get_kind_display())}
            for a in Activity.objects.filter(debtor=debtor).order_by("occurred_at", "id")
        ],
    }


# --- erasure -----------------------------------------------------------------------------------


def identifiers(debtor: Debtor) -> list[str]:
    """The strings that name or reach the debtor, longest first (for `scrub`)."""
    phone = (debtor.phone or "").strip()
    values = {
        debtor.full_name,
        debtor.first_name,
        debtor.last_name,
        debtor.email,
        phone,
        phone.lstrip("+"),
        debtor.address_line1,
        debtor.address_line2,
    }
    found = {v.strip() for v in values if v and len(v.strip()) >= 2 and v.strip() != ERASED}
    return sorted(found, key=lambda v: (-len(v), v))


def scrubber(names: Iterable[str]) -> Callable[[Any], Any]:
    """A function replacing every whole-word occurrence of `names` (any case) with `ERASED`,
    in a string or inside a JSON value."""
    names = [n for n in names if n]
    if not names:
        return lambda value: value
    pattern = re.compile(
        "|".join(rf"(?<!\w){re.escape(n)}(?!\w)" for n in names), flags=re.IGNORECASE
    )

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub(ERASED, value)
        if isinstance(value, list):
            return [scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        return value

    return scrub


def accounts_close(*, debtor: Debtor, actor: str, reason: str) -> list[int]:
    """Close the debtor's open accounts (a forced erasure): each transition and its timeline
    entry through `account_close`; active plans are cancelled, as for a recall."""
    closed = []
    for account in Account.objects.filter(debtor=debtor, status__in=list(OPEN_STATUSES)):
        services.account_close(account=account, actor=actor, reason=reason)
        closed.append(account.pk)
    return closed


def debtor_erase(*, debtor: Debtor, names: Iterable[str], at: datetime) -> dict[str, int]:
    """Replace the debtor's personal data with placeholders; call inside the erasure's
    transaction, with `names` from `identifiers` taken before anything was replaced.

    Kept: the external reference (the creditor's own key, so its books still reconcile),
    region, time zone and language (which rules and retention periods apply), `KEPT_FLAGS`,
    every account's amounts, statuses and dates, payments, plans and the timeline. The
    timeline holds ids and codes; entries that quote an identifier anyway (a provider's error
    message) have it replaced.
    """
    scrub = scrubber(names)
    Debtor.objects.filter(pk=debtor.pk).update(
        first_name=ERASED,
        last_name="",
        email="",
        phone="",
        address_line1="",
        address_line2="",
        city="",
        postal_code="",
        date_of_birth=None,
        preferred_channel="",
        preferred_hours_start=None,
        preferred_hours_end=None,
        flags=sorted(f for f in (debtor.flags or []) if f in KEPT_FLAGS),
        erased_at=at,
        updated_at=at,
    )
    descriptions = (
        Account.objects.filter(debtor=debtor).exclude(description="").update(description=ERASED)
    )
    scrubbed = 0
    # The timeline is append-only for everyone else: erasure is the one rewrite, and only of
    # the entries that quote the debtor.
    for entry in Activity.objects.filter(debtor=debtor).only("id", "summary", "data"):
        summary, data = scrub(entry.summary), scrub(entry.data)
        if summary != entry.summary or data != entry.data:
            Activity.objects.filter(pk=entry.pk).update(summary=summary, data=data)
            scrubbed += 1
    return {
        "debtor": 1,
        "account_descriptions": descriptions,
        "timeline_entries_scrubbed": scrubbed,
    }


# --- retention ---------------------------------------------------------------------------------


def debtors_closed_before(*, region: Q, cutoff: datetime) -> QuerySet:
    """Ids of debtors not yet erased, in `region` (a Q on `Debtor`), who have accounts and
    all of them final since before `cutoff`; in id order."""
    open_accounts = Account.objects.filter(debtor=OuterRef("pk"), status__in=list(OPEN_STATUSES))
    return (
        Debtor.objects.filter(region, erased_at__isnull=True)
        .exclude(Exists(open_accounts))
        .annotate(final_since=Max("accounts__status_changed_at"))
        .filter(final_since__lt=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
