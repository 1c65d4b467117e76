"""The portal overview's read of a debtor's accounts, with their debtor and creditor, in SQL
prepared once per process: one of the few places the project replaces a standard mechanism
for speed (docs/benchmarks.md, "Standard mechanisms and the exceptions kept", has the figure
and the command that measures it).

What it replaces: the ORM queryset `Account.objects.filter(debtor_id=...)
.select_related("creditor", "debtor").order_by("-placed_at")`, whose compilation (three
models, every concrete column) costs more CPU than the rest of the overview page. The SQL and
the column converters are built once per process from the models' metadata
(`accounts.prepared_read`), so a field added to a model is read here too; the rows become
model instances through `Model.from_db`, as the ORM's do.
`portal/tests/test_hot_path.py::test_prepared_accounts_read_matches_the_orm` compares every
field of every object with the queryset's.
"""

from __future__ import annotations

import functools

from django.db import connection

from accounts import prepared_read
from accounts.models import Account, Creditor, Debtor


@functools.cache
def _accounts_query() -> tuple[str, list[prepared_read.Part]]:
    """The SQL of `accounts_of` and where each model's columns are in its rows, built once per
    process from the models' metadata (`accounts.prepared_read`)."""
    qn = connection.ops.quote_name
    debtor_fk = qn(Account._meta.get_field("debtor").column)
    columns, parts = prepared_read.select_list(
        connection, [("a", Account), ("d", Debtor), ("c", Creditor)]
    )
    placed_at = qn(Account._meta.get_field("placed_at").column)
    # Only quoted identifiers from model metadata are formatted in; the debtor id is a parameter.
    sql = (
        f"SELECT {columns} FROM {qn(Account._meta.db_table)} a"  # noqa: S608
        f" JOIN {qn(Debtor._meta.db_table)} d ON d.{qn(Debtor._meta.pk.column)} = a.{debtor_fk}"
        f" JOIN {qn(Creditor._meta.db_table)} c ON c.{qn(Creditor._meta.pk.column)}"
        f" = a.{qn(Account._meta.get_field('creditor').column)}"
        f" WHERE a.{debtor_fk} = %s ORDER BY a.{placed_at} DESC"
    )
    return sql, parts


def accounts_of(*, debtor_id: int) -> list[Account]:
    """The debtor's accounts (with debtor and creditor), open ones first, newest first.

    Same rows and objects as the queryset `Account.objects.filter(debtor_id=...)
    .select_related("creditor", "debtor").order_by("-placed_at")`, and each debtor's creditor
    is the account's creditor instance.
    """
    sql, parts = _accounts_query()
    with connection.cursor() as cursor:
        cursor.execute(sql, [debtor_id])
        rows = cursor.fetchall()
    accounts: list[Account] = []
    debtor: Debtor | None = None
    creditors: dict[int, Creditor] = {}
    for row in rows:
        account, row_debtor, creditor = prepared_read.instances(row, parts, connection=connection)
        creditor = creditors.setdefault(creditor.pk, creditor)
        debtor = debtor or row_debtor  # one debtor: every row shares the same instance
        account._state.fields_cache["debtor"] = debtor
        account._state.fields_cache["creditor"] = creditor
        if debtor.creditor_id in creditors:
            debtor._state.fields_cache["creditor"] = creditors[debtor.creditor_id]
        accounts.append(account)
    accounts.sort(key=lambda a: not a.is_open)
    return accounts
