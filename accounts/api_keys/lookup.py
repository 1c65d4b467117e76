"""The query that finds a presented API key, with its user, the user's creditor link and the
creditor, in SQL written once per database instead of compiled by the ORM on every request.

What it replaces is the standard way, and the one the tests hold it to:

    ApiKey.objects.filter(prefix=prefix).select_related("user__creditor_link__creditor")

Every API request runs it. Compiling that four-table query costs the ORM 0.7 ms of CPU and
building the four objects from its row 0.3 ms more, a quarter of a whole page of the accounts
list (3.8 ms in one process), while PostgreSQL answers it in 0.1 ms. Here the SQL is
written once per process by `accounts.prepared_read` (every concrete column of the four
models, each value through the ORM's converters, the objects built by `Model.from_db`), and
the relations are cached as `select_related` caches them (a user without a creditor link
caches that it has none). The figures, and what it buys a page under load, are in
docs/benchmarks.md ("Standard mechanisms and the exceptions kept").

`accounts/api_keys/tests/test_lookup.py` compares every field of every object with the ORM's
query, for keys with and without a creditor, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from functools import cache

from django.contrib.auth import get_user_model
from django.db import connections

from accounts import prepared_read
from accounts.api_keys.models import ApiKey
from accounts.models import Creditor, CreditorUser


@cache
def _query(using: str) -> tuple[str, list[prepared_read.Part]]:
    """The SQL for database `using`, and where each model's columns are in its rows."""
    connection = connections[using]
    qn = connection.ops.quote_name
    key, user, link, creditor = ApiKey, get_user_model(), CreditorUser, Creditor
    columns, parts = prepared_read.select_list(
        connection, [("k", key), ("u", user), ("l", link), ("c", creditor)]
    )

    def column(model, name: str) -> str:
        return qn(model._meta.get_field(name).column)

    # Only the models' own table and column names, quoted, are written into it; the prefix is
    # a parameter.
    sql = (
        f"SELECT {columns} FROM {qn(key._meta.db_table)} k"  # noqa: S608
        f" INNER JOIN {qn(user._meta.db_table)} u"
        f" ON u.{qn(user._meta.pk.column)} = k.{column(key, 'user')}"
        f" LEFT OUTER JOIN {qn(link._meta.db_table)} l"
        f" ON l.{column(link, 'user')} = u.{qn(user._meta.pk.column)}"
        f" LEFT OUTER JOIN {qn(creditor._meta.db_table)} c"
        f" ON c.{qn(creditor._meta.pk.column)} = l.{column(link, 'creditor')}"
        f" WHERE k.{column(key, 'prefix')} = %s"
    )
    return sql, parts


def keys_with_prefix(prefix: str, *, using: str = "default") -> list[ApiKey]:
    """Every key whose prefix is `prefix`, each with `user`, `user.creditor_link` and its
    `creditor` loaded, as `select_related("user__creditor_link__creditor")` loads them."""
    sql, parts = _query(using)
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(sql, [prefix])
        rows = cursor.fetchall()
    found = []
    no_link = get_user_model().creditor_link.related
    for row in rows:
        key, user, link, creditor = prepared_read.instances(row, parts, connection=connection)
        key.user = user
        if link is None:  # the outer joins found no link: cached as select_related does
            no_link.set_cached_value(user, None)
        else:
            link.creditor = creditor
            user.creditor_link = link
        found.append(key)
    return found
