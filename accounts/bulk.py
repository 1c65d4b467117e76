"""Bulk writes as fast as the database allows: COPY on PostgreSQL, the ORM elsewhere.

Used by the placement service, where 10,000-row requests are the normal case, and by the
outbox. Rows are written from model instances (so defaults and field logic stay the model's),
but without Django's per-value SQL preparation, which on PostgreSQL costs more than the
database's own work (figures in docs/benchmarks.md). `bulk_update_by_pk` replaces Django's
`bulk_update`, whose CASE branch per row and field costs more to build than the update
itself, by one `UPDATE ... FROM` a list of values (PostgreSQL, SQLite 3.33+).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, models, router


def _copy_rows(cursor, connection, table: str, fields, objs) -> None:
    # JSON needs psycopg's Jsonb wrapper (via the field); every other type adapts natively.
    prepared = {f.attname for f in fields if isinstance(f, models.JSONField)}
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with cursor.copy(f"COPY {connection.ops.quote_name(table)} ({columns}) FROM STDIN") as copy:
        for obj in objs:
            copy.write_row(
                [
                    f.get_db_prep_save(getattr(obj, f.attname), connection)
                    if f.attname in prepared
                    else getattr(obj, f.attname)
                    for f in fields
                ]
            )


_COPY_FROM = 50  # rows: below this a plain INSERT is quicker than COPY's extra round trips


def bulk_insert(
    model: type[models.Model], objs: Sequence[models.Model], *, set_pks: bool = False
) -> None:
    """Insert new rows.

    Primary keys are set on `objs` only with `set_pks=True` (on PostgreSQL they are then taken
    from the table's sequence first, one query); otherwise select them back if needed.
    """
    if not objs:
        return
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql" or (set_pks and len(objs) < _COPY_FROM):
        model.objects.bulk_create(objs, batch_size=1000)
        return
    opts = model._meta
    fields = [f for f in opts.concrete_fields if set_pks or not f.primary_key]
    with connection.cursor() as cursor:
        if set_pks:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [opts.db_table, opts.pk.column, len(objs)],
            )
            for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
                obj.pk = pk
        _copy_rows(cursor, connection, opts.db_table, fields, objs)


def bulk_update_by_key(
    model: type[models.Model],
    objs: Sequence[models.Model],
    *,
    key: Sequence[str],
    fields: Sequence[str],
) -> None:
    """Set `fields` on existing rows matched by the unique `key` columns (rows must exist).

    PostgreSQL: COPY into a temporary table, then one UPDATE ... FROM. Elsewhere an upsert
    (INSERT ... ON CONFLICT DO UPDATE), which needs the objects' other required fields too.
    """
    if not objs:
        return
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            objs, update_conflicts=True, unique_fields=key, update_fields=fields, batch_size=1000
        )
        return
    opts = model._meta
    key_fields = [opts.get_field(name) for name in key]
    set_fields = [opts.get_field(name) for name in fields]
    qn = connection.ops.quote_name
    table = qn(opts.db_table)
    temp = f"bulk_{opts.db_table}"
    columns = ", ".join(qn(f.column) for f in (*key_fields, *set_fields))
    assignments = ", ".join(f"{qn(f.column)} = t.{qn(f.column)}" for f in set_fields)
    match = " AND ".join(f"{table}.{qn(f.column)} = t.{qn(f.column)}" for f in key_fields)
    # Every name below is a quoted identifier from the model's metadata, never input.
    with connection.cursor() as cursor:
        create = f"CREATE TEMPORARY TABLE {qn(temp)} ON COMMIT DROP AS SELECT {columns} FROM "  # noqa: S608 (quoted identifiers)
        cursor.execute(f"{create}{table} WITH NO DATA")
        _copy_rows(cursor, connection, temp, [*key_fields, *set_fields], objs)
        update = f"UPDATE {table} SET {assignments} FROM {qn(temp)} t WHERE {match}"  # noqa: S608
        cursor.execute(update)
        cursor.execute(f"DROP TABLE {qn(temp)}")


def _update_from_supported(connection) -> bool:
    if connection.vendor == "postgresql":
        return True
    return connection.vendor == "sqlite" and connection.Database.sqlite_version_info >= (3, 33)


def bulk_update_by_pk(
    model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str]
) -> None:
    """Set `fields` of existing rows to each object's values, as `bulk_update` does.

    One `WITH v AS (VALUES ...) UPDATE ... FROM v` per batch; each value is prepared by its
    field (`get_db_prep_save`) as Django's own update would, and cast to the column's type on
    PostgreSQL (a bare parameter in VALUES would be text). Databases without `UPDATE ... FROM`
    use `bulk_update`."""
    if not objs:
        return
    connection = connections[router.db_for_write(model)]
    if not _update_from_supported(connection):
        model.objects.bulk_update(objs, fields)
        return
    opts = model._meta
    targets = [opts.pk, *(opts.get_field(name) for name in fields)]
    qn = connection.ops.quote_name
    cast = connection.vendor == "postgresql"
    row = (
        "("
        + ", ".join(f"CAST(%s AS {f.cast_db_type(connection)})" if cast else "%s" for f in targets)
        + ")"
    )
    names = [f"v{i}" for i in range(len(targets))]
    assignments = ", ".join(f"{qn(f.column)} = v.v{i}" for i, f in enumerate(targets) if i)
    table = qn(opts.db_table)
    size = min(1000, connection.ops.bulk_batch_size(targets, objs))
    for start in range(0, len(objs), size):
        chunk = objs[start : start + size]
        params = [
            f.get_db_prep_save(getattr(obj, f.attname), connection)
            for obj in chunk
            for f in targets
        ]
        # Every name is a quoted identifier from the model's metadata; values are parameters.
        values = ", ".join([row] * len(chunk))
        sql = (
            f"WITH v ({', '.join(names)}) AS (VALUES {values}) UPDATE {table} "  # noqa: S608
            f"SET {assignments} FROM v WHERE {table}.{qn(opts.pk.column)} = v.v0"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
