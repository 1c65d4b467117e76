"""`field__any=ids`: the same rows as `field__in=ids`, with the ids as one array on PostgreSQL."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Account, Activity
from accounts.tests.factories import CreditorFactory, place, row

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts():
    return place(CreditorFactory(), *(row(i) for i in range(5)))


def _ids(qs):
    return sorted(qs.values_list("pk", flat=True))


def test_any_finds_what_in_finds_on_keys_foreign_keys_and_joins(accounts):
    some = [accounts[0].pk, accounts[3].pk, 10**9]
    assert _ids(Account.objects.filter(pk__any=some)) == [accounts[0].pk, accounts[3].pk]
    debtors = [accounts[1].debtor_id]
    assert _ids(Account.objects.filter(debtor_id__any=debtors)) == _ids(
        Account.objects.filter(debtor_id__in=debtors)
    )
    assert _ids(Activity.objects.filter(account__debtor_id__any=debtors)) == _ids(
        Activity.objects.filter(account__debtor_id__in=debtors)
    )
    assert Activity.objects.filter(account__debtor_id__any=debtors).exists()
    assert _ids(Account.objects.filter(pk__any=[])) == []
    assert _ids(Account.objects.exclude(pk__any=[])) == _ids(Account.objects.all())


def test_one_array_parameter_on_postgresql_one_placeholder_per_id_elsewhere(accounts):
    ids = [a.pk for a in accounts]
    with CaptureQueriesContext(connection) as queries:
        assert _ids(Account.objects.filter(pk__any=ids)) == sorted(ids)
    sql = queries.captured_queries[0]["sql"]
    if connection.vendor == "postgresql":
        assert '"accounts_account"."id" = ANY(' in sql and "::bigint[]" in sql
    else:
        assert f'"accounts_account"."id" IN ({", ".join(map(str, ids))})' in sql


@pytest.mark.parametrize("bad", [["1"], [1.0], [None], [True]])
def test_anything_but_integer_ids_is_a_clear_error(accounts, bad):
    with pytest.raises(TypeError, match="integer ids"):
        Account.objects.filter(pk__any=bad)
    with pytest.raises(TypeError, match="integer ids"):
        Activity.objects.filter(account_id__any=[accounts[0].pk, *bad])
