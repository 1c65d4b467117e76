"""accounts_lock: accounts locked and returned as they are now."""

import pytest
from django.db import connection, transaction

from accounts.models import Account, Debtor
from accounts.selectors import accounts_lock
from accounts.tests.factories import CreditorFactory, place, row

pytestmark = pytest.mark.django_db


def _read(ids):
    return list(Account.objects.filter(pk__in=ids).select_related("debtor").order_by("pk"))


def _placed(n):
    creditor = CreditorFactory()
    return place(creditor, *(row(i) for i in range(n)))


def test_locked_accounts_are_as_they_are_now_not_as_the_caller_read_them():
    accounts = _read([a.pk for a in _placed(3)])
    a0, a1, a2 = accounts
    # Changes made behind the reader's back, the way that bypasses every model hook.
    Debtor.objects.filter(pk=a1.debtor_id).update(flags=["opted_out_sms"])
    Account.objects.filter(pk=a2.pk).update(current_balance=a2.current_balance - 1)
    with transaction.atomic():
        locked = accounts_lock(accounts)
    assert set(locked) == {a0.pk, a1.pk, a2.pk}
    assert locked[a1.pk].debtor.flags == ["opted_out_sms"]
    assert locked[a2.pk].current_balance == a2.current_balance - 1
    assert locked[a0.pk].current_balance == a0.current_balance


@pytest.mark.postgres
def test_the_lock_is_taken_on_the_account_and_its_debtor():
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    accounts = _read([a.pk for a in _placed(1)])
    with transaction.atomic():
        accounts_lock(accounts)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relation::regclass::text FROM pg_locks WHERE pid = pg_backend_pid() "
                "AND mode = 'RowShareLock' ORDER BY 1"
            )
            tables = {r[0] for r in cursor.fetchall()}
    assert {"accounts_account", "accounts_debtor"} <= tables
