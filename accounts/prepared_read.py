"""Model instances read with SQL written once per process, for the few hot reads where
compiling a `select_related` queryset on every call costs more than the rest of the request:
the API key's lookup (`accounts/api_keys/lookup.py`) and the portal overview's accounts
(`portal/accounts_read.py`). docs/benchmarks.md ("Standard mechanisms and the exceptions
kept") has what each buys and the command that measures it.

A select list holds every concrete column of each model, read from the model's `_meta`, so a
field added to a model is read too. Each value goes through the converters the ORM's compiler
applies to that column, and the instances are built with `Model.from_db`, as the ORM builds
them. Each user of this module has a test that compares every field of every object it
returns with the queryset it replaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Model


@dataclass(frozen=True)
class Part:
    """One model's columns in the select list: where they start, and how to read them."""

    model: type[Model]
    start: int
    attnames: list[str]
    converters: list[tuple[Any, list]]  # per column: the column expression, its converters
    pk: int  # the primary key's place among `attnames`


def select_list(
    connection: Any, tables: Sequence[tuple[str, type[Model]]]
) -> tuple[str, list[Part]]:
    """`alias.column, ...` for every concrete column of each (table alias, model), in order,
    and the `Part` of each model."""
    qn = connection.ops.quote_name
    columns: list[str] = []
    parts = []
    for alias, model in tables:
        fields = model._meta.concrete_fields
        converters = []
        for field in fields:
            column = field.get_col(alias)
            found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            converters.append((column, found))
        parts.append(
            Part(
                model=model,
                start=len(columns),
                attnames=[field.attname for field in fields],
                converters=converters,
                pk=fields.index(model._meta.pk),
            )
        )
        columns += [f"{alias}.{qn(field.column)}" for field in fields]
    return ", ".join(columns), parts


def instances(row: Sequence[Any], parts: list[Part], *, connection: Any) -> list[Model | None]:
    """The row's instance of each part's model; None for a part whose primary key is NULL
    (an outer join that found no row)."""
    found: list[Model | None] = []
    for part in parts:
        values = list(row[part.start : part.start + len(part.attnames)])
        if values[part.pk] is None:
            found.append(None)
            continue
        for i, (column, converters) in enumerate(part.converters):
            for convert in converters:
                values[i] = convert(values[i], column, connection)
        found.append(part.model.from_db(connection.alias, part.attnames, values))
    return found
