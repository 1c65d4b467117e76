"""Helpers that build compliance test state through the real services (placement, admin).

Fixtures live in ``conftest.py``; these are plain functions the tests import.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def utc(*args: int) -> datetime:
    """An aware UTC datetime: utc(2026, 3, 10, 1, 30)."""
    return datetime(*args, tzinfo=UTC)


def debtor_account(creditor, n: int | str = 1, region: str = "US-MA", **debtor: Any):
    """Place one account for a debtor in ``region`` through the real placement service."""
    from accounts.tests.factories import place, row

    # No phone: compliance does not read it, and each country validates its own numbers.
    (account,) = place(creditor, row(n, debtor={"region": region, "phone": "", **debtor}))
    return account


def admin_form_data(response) -> dict[str, Any]:
    """POST data that re-submits an admin change page as it was rendered (all inlines)."""
    data: dict[str, Any] = {}

    def add_form(form) -> None:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = value

    add_form(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name in formset.management_form.fields:
            data[formset.management_form.add_prefix(name)] = formset.management_form[name].value()
        for form in formset.forms:
            add_form(form)
    return data
