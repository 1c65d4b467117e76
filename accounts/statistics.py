"""PostgreSQL's planner statistics of a table, refreshed when a bulk job has outgrown them.

PostgreSQL picks each query's plan from statistics that `ANALYZE` samples. Autovacuum
samples a table again once a tenth of it has changed, when its launcher next comes round
(every minute by default); a job that writes as fast as the planner does makes a new table
a hundred times bigger in that time. A column without statistics is estimated with
PostgreSQL's defaults, and `account_id IN (1,000 ids)` is then expected to match every row:
each of the planner's batches then reads the whole outbox instead of 1,000 index entries, a
cost that grows with the outbox.

`table_analyze` samples a table (or some of its columns) now; with `when_stale=True` only
once the table has at least doubled in size since its last analyze, so a job that calls it
after every batch analyzes a growing table a logarithmic number of times. A no-op on other
databases.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, models, router, transaction

_LOCK_SPACE = 0x5A7  # first key of the advisory locks that keep two sessions from analyzing


def table_analyze(
    model: type[models.Model],
    columns: Sequence[str] = (),
    *,
    when_stale: bool = False,
    min_pages: int = 32,
    target: int | None = None,
) -> bool:
    """`ANALYZE` the model's table, only `columns` (field names) if given. True if it ran.

    `when_stale=True`: only when the table has at least doubled in size since its last
    analyze, and holds at least `min_pages` pages (8 kB each). Size, not PostgreSQL's count of
    changed rows: that count lags by up to a second, and an `ANALYZE` of some columns does not
    reset it. `target`: the statistics target of this sample instead of the server's (100):
    `ANALYZE` reads 300 rows per unit, and on a table of wide rows, such as the outbox's
    rendered messages, that is almost a page per row.

    Skipped, False, while another session analyzes the same table through this function: two
    planners would otherwise queue behind each other's `ANALYZE` and repeat it.
    """
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        return False
    opts = model._meta
    qn = connection.ops.quote_name
    table = qn(opts.db_table)
    # The advisory lock is the transaction's: it goes with a commit, a rollback or an error.
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if when_stale:
            cursor.execute(
                "SELECT relpages, pg_relation_size(oid) / current_setting('block_size')::int "
                "FROM pg_class WHERE oid = %s::regclass",
                [table],
            )
            analyzed, pages = cursor.fetchone()
            if pages < max(min_pages, 2 * analyzed):
                return False
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s::regclass::oid::int)", [_LOCK_SPACE, table]
        )
        if not cursor.fetchone()[0]:
            return False
        if target is not None:
            # SET LOCAL lasts to the end of the caller's transaction, if this runs inside one:
            # it is put back below (an error rolls it back with the savepoint).
            cursor.execute(
                "SELECT current_setting('default_statistics_target'), "
                "set_config('default_statistics_target', %s, true)",
                [str(target)],
            )
            before = cursor.fetchone()[0]
        names = ", ".join(qn(opts.get_field(name).column) for name in columns)
        cursor.execute(f"ANALYZE {table} ({names})" if names else f"ANALYZE {table}")
        if target is not None:
            cursor.execute("SELECT set_config('default_statistics_target', %s, true)", [before])
    return True
