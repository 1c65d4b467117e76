"""factory_boy factories for the accounts app. Debtors and accounts are made through the real
placement service (`place`), so tests start from states the product can actually reach."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from accounts import services
from accounts.api_keys.services import api_key_issue
from accounts.models import Account, Creditor, CreditorUser


class CreditorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Creditor

    name = factory.Sequence(lambda n: f"Creditor {n}")
    slug = factory.Sequence(lambda n: f"creditor-{n}")
    display_name = factory.LazyAttribute(lambda o: f"{o.name} Ltd")
    default_currency = "EUR"
    min_instalment = Decimal("10")
    max_plan_months = 12


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")


def api_user(creditor: Creditor, username: str | None = None):
    """A user bound to `creditor`, with an API key; returns (user, the key)."""
    user = UserFactory(username=username) if username else UserFactory()
    CreditorUser.objects.create(user=user, creditor=creditor)
    _key, plaintext = api_key_issue(user=user, name="test key", actor="test")
    return user, plaintext


def staff_client(
    creditor: Creditor | None = None, *, agency: bool = False, extra: tuple[str, ...] = ()
) -> Client:
    """A signed-in staff user with Wagtail admin access and every view permission, bound to
    `creditor` (or to none); `agency` adds the permission to see every creditor, `extra` more
    permissions by codename."""
    user = UserFactory(is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__startswith="view_").exclude(
            codename="view_all_creditors"
        )
    )
    user.user_permissions.add(Permission.objects.get(codename="access_admin"))
    user.user_permissions.add(*Permission.objects.filter(codename__in=extra))
    if agency:
        user.user_permissions.add(Permission.objects.get(codename="view_all_creditors"))
    if creditor is not None:
        CreditorUser.objects.create(user=user, creditor=creditor)
    client = Client()
    client.force_login(user)
    return client


def row(n: int | str = 1, **overrides: Any) -> dict[str, Any]:
    """One valid placement row (US-MA debtor, USD), with overrides for account or debtor keys."""
    debtor_overrides = overrides.pop("debtor", {})
    data = {
        "external_ref": f"ACC-{n}",
        "currency": "USD",
        "original_amount": "120.50",
        "due_date": "2026-10-01",
        "description": "Energy bill",
        "debtor": {
            "external_ref": f"D-{n}",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": f"ada{n}@example.com",
            "phone": "+16175550123",
            "address_line1": "1 Main St",
            "city": "Boston",
            "postal_code": "02101",
            "region": "US-MA",
            "date_of_birth": "1980-02-03",
        },
    }
    data.update(overrides)
    if isinstance(debtor_overrides, dict):
        data["debtor"] = {**data["debtor"], **debtor_overrides}
    else:  # a deliberately malformed debtor
        data["debtor"] = debtor_overrides
    return data


def place(creditor: Creditor, *rows: dict[str, Any]) -> list[Account]:
    """Place rows through the real service and return the accounts, in row order."""
    result = services.placement_upsert(creditor=creditor, rows=list(rows), actor="test")
    assert not result.rejected, result.rejected
    refs = [r["external_ref"] for r in rows]
    by_ref = {
        a.external_ref: a
        for a in Account.objects.filter(creditor=creditor, external_ref__in=refs).select_related(
            "debtor", "creditor"
        )
    }
    return [by_ref[ref] for ref in refs]


def creditor_user(creditor: Creditor | None, *, everything: bool = False, username: str = ""):
    """A signed-in creditor user of `creditor`, made as docs/creditor-users.md tells an agency
    admin to: a staff user in the "Creditor users" group, bound to the creditor. `everything`
    also grants them every permission one by one (the role's cap must still hold). Returns
    (client, user)."""
    from django.contrib.auth.models import Group

    from accounts.roles import CREDITOR_USERS_GROUP

    user = UserFactory(is_staff=True, **({"username": username} if username else {}))
    user.groups.add(Group.objects.get(name=CREDITOR_USERS_GROUP))
    if everything:
        user.user_permissions.set(Permission.objects.all())
    if creditor is not None:
        CreditorUser.objects.create(user=user, creditor=creditor)
    client = Client()
    client.force_login(user)
    return client, user
