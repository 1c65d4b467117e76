"""`field__any=ids`: a filter on many integer ids sent as one array parameter.

`field__in=ids` makes Django prepare each id and write one placeholder per id, and psycopg
then splits the query at every placeholder and quotes each value: several times the client
CPU of sending the same ids as one array (docs/benchmarks.md), and the planner sends a dozen
such lists per batch of 1,000 accounts. On PostgreSQL `field__any` writes `field = ANY(%s)` with
the ids as one array (PostgreSQL plans `IN (...)` as exactly that), elsewhere the same
`IN (...)` as `__in`.
Registered on integer fields (ids and their foreign keys) in `AccountsConfig.ready`.
"""

from __future__ import annotations

from django.core.exceptions import EmptyResultSet
from django.db.models import Lookup


class AnyOf(Lookup):
    lookup_name = "any"

    def get_prep_lookup(self) -> list[int]:
        # Integers only: a model instance or a string is a caller's mistake, not an id.
        values = list(self.rhs)
        for value in values:
            if type(value) is not int:
                raise TypeError(f"any takes integer ids, got {type(value).__name__}")
        return values

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        if connection.vendor == "postgresql":
            # As the column's type: psycopg would send small ids as a smallint[].
            return f"{lhs} = ANY(%s::{self.lhs.output_field.db_type(connection)}[])", [
                *params,
                self.rhs,
            ]
        if not self.rhs:
            raise EmptyResultSet
        return f"{lhs} IN ({', '.join(['%s'] * len(self.rhs))})", [*params, *self.rhs]
