"""The API key's lookup (`accounts/api_keys/lookup.py`) returns what the ORM's
`filter(prefix=...).select_related("user__creditor_link__creditor")` returns: the same keys,
every field of the key, its user, the creditor link and the creditor equal and of the same
type, and the relations loaded, so reading them runs no query."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.api_keys import lookup
from accounts.api_keys.models import ApiKey
from accounts.api_keys.services import api_key_issue
from accounts.models import Creditor
from accounts.tests.factories import CreditorFactory, UserFactory, api_user

pytestmark = pytest.mark.django_db


def _orm(prefix: str) -> list[ApiKey]:
    return list(
        ApiKey.objects.filter(prefix=prefix)
        .select_related("user__creditor_link__creditor")
        .order_by("pk")
    )


def _fields(obj) -> list[tuple[str, object, type]]:
    return [
        (field.attname, getattr(obj, field.attname), type(getattr(obj, field.attname)))
        for field in obj._meta.concrete_fields
    ]


def _same(found: ApiKey, expected: ApiKey) -> None:
    assert _fields(found) == _fields(expected)
    assert _fields(found.user) == _fields(expected.user)
    assert _fields(found.user.creditor_link) == _fields(expected.user.creditor_link)
    assert _fields(found.user.creditor_link.creditor) == _fields(
        expected.user.creditor_link.creditor
    )
    assert found._state.db == expected._state.db and not found._state.adding


def test_a_key_with_its_user_link_and_creditor_is_what_the_orm_reads(
    django_assert_num_queries,
):
    creditor = CreditorFactory(min_instalment=Decimal("12.50"), locale="fr-CA")
    user, _plaintext = api_user(creditor)
    user.first_name, user.last_login = "Ada", datetime(2026, 3, 1, 9, 30, 15, 123456, UTC)
    user.save()
    key = ApiKey.objects.get(user=user)
    ApiKey.objects.filter(pk=key.pk).update(
        expires_at=datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC),
        last_used_at=datetime(2026, 3, 2, tzinfo=UTC),
    )
    with django_assert_num_queries(1):
        [found] = lookup.keys_with_prefix(key.prefix)
        # The relations came with it.
        assert found.user.creditor_link.creditor.pk == creditor.pk
        assert found.user.creditor_link.user is found.user
    [expected] = _orm(key.prefix)
    _same(found, expected)
    assert isinstance(found.user.creditor_link.creditor.min_instalment, Decimal)
    assert found.expires_at == datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_user_without_a_creditor_has_none_loaded(django_assert_num_queries):
    user = UserFactory()
    key, _plaintext = api_key_issue(user=user, name="no creditor", actor="test")
    with django_assert_num_queries(1):
        [found] = lookup.keys_with_prefix(key.prefix)
        assert getattr(found.user, "creditor_link", None) is None
    [expected] = _orm(key.prefix)
    assert _fields(found) == _fields(expected) and _fields(found.user) == _fields(expected.user)


def test_keys_sharing_a_prefix_are_all_returned_and_an_unknown_one_none():
    creditor = CreditorFactory()
    users = [api_user(creditor)[0] for _ in range(2)]
    # Two migrated tokens may begin with the same eight digits.
    for n, user in enumerate(users):
        ApiKey.objects.filter(user=user).update(prefix="abcdef01", key_hash=f"{n}" * 64)
    found = sorted(lookup.keys_with_prefix("abcdef01"), key=lambda k: k.pk)
    expected = _orm("abcdef01")
    assert [k.pk for k in found] == [k.pk for k in expected] and len(found) == 2
    for one, other in zip(found, expected, strict=True):
        _same(one, other)
    assert lookup.keys_with_prefix("ck_00000000") == []
    assert Creditor.objects.count() == 1
