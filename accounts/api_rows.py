"""The pages of the API's long lists (`GET /api/v1/accounts/`, `/payments/`, `/events/`), each
row's JSON written by PostgreSQL (`json_build_object`) in the query that reads the page.

`AccountOutput`, `PaymentOutput` and `EventOutput` stay the schema, and the answer about one
object. For a page of 100 rows, going through them cost several times what the rest of the
request does: a model instance and a DRF field call per value, and three date-times per
account parsed by the database driver in Python (docs/benchmarks.md, API). Here the database
writes each value as the serializer would (money rounded half up to the currency's minor
units, date-times in UTC as `2026-03-01T10:00:00.123456Z`, dates as `2026-03-01`) and the
page is the rows' text joined. `accounts/tests/test_api_rows.py` holds each row to its
serializer's output, key by key and in the same order, so a field added to a serializer and
not here fails there.

Date-times are written in UTC, as the serializers write them: the API never activates another
time zone and `TIME_ZONE` is UTC (collections_site/settings/base.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache

from django.db import connections
from django.db.models import Expression, F, TextField
from django.db.models.functions import Cast
from django.http import HttpResponse
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from accounts import money
from accounts.pagination import KeysetPagination


class _Row(Expression):
    """A row's JSON text, by a SQL `template` naming its columns (`{external_ref}`, ...): one
    expression for the ORM to compile, where one per key and value cost more than the rest of
    the query.

    The ORM resolves one column per table (the first named on it), which joins that table in;
    the others are written as that column's table alias and their own column name. Resolving
    each of fifteen columns through the ORM cost a quarter of the page's query."""

    output_field = TextField()

    def __init__(self, template: str, **columns: str) -> None:
        super().__init__()
        self.template = template
        self.columns = columns
        self.anchors: dict[str, F] = {}
        for path in columns.values():
            self.anchors.setdefault(_relation(path), F(path))

    def get_source_expressions(self) -> list:
        return list(self.anchors.values())

    def set_source_expressions(self, expressions: list) -> None:
        self.anchors = dict(zip(self.anchors, expressions, strict=True))

    def as_sql(self, compiler, connection):
        qn = compiler.quote_name_unless_alias
        aliases = {relation: anchor.alias for relation, anchor in self.anchors.items()}
        model = compiler.query.model
        sql = {
            name: f"{qn(aliases[_relation(path)])}.{qn(_column(model, path))}"
            for name, path in self.columns.items()
        }
        return f"({self.template.format(**sql)})::text", []


def _relation(path: str) -> str:
    """The relation a column path goes through: `debtor` for `debtor__region`, `` for a
    column of the queried table."""
    return path.rpartition("__")[0]


@cache
def _column(model, path: str) -> str:
    """The database column of `path` (`debtor__region`), from the models' metadata."""
    *relations, name = path.split("__")
    for relation in relations:
        model = model._meta.get_field(relation).related_model
    return model._meta.get_field(name).column


@cache
def _minor_units(currency: str) -> str:
    """SQL for a currency's minor units (`money.minor_units`): 2 unless listed."""
    odd: dict[int, list[str]] = {}
    for code in sorted(money.known_currencies()):
        units = money.minor_units(code)
        if units != 2:
            odd.setdefault(units, []).append(code)
    # Currency codes are three capital letters (pycountry's list): safe to write into SQL.
    assert all(code.isascii() and code.isalpha() for codes in odd.values() for code in codes)
    whens = " ".join(
        f"WHEN {currency} IN ({', '.join(repr(c) for c in codes)}) THEN {units}"
        for units, codes in sorted(odd.items())
    )
    return f"CASE {whens} ELSE 2 END"


def _money(amount: str, currency: str = "{currency}") -> str:
    """`str(money.quantize(amount, currency))`: rounded half up (amounts are never negative)."""
    return f"ROUND({amount}, {_minor_units(currency)})::text"


def _datetime(column: str) -> str:
    """As DRF's `DateTimeField` writes a UTC date-time: microseconds only when not zero."""
    return (
        f"REPLACE(TO_CHAR({column} AT TIME ZONE 'UTC', "
        """'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '.000000Z', 'Z')"""
    )


def _template(**values: str) -> str:
    """`JSON_BUILD_OBJECT('key', value, ...)`, the keys in the order given."""
    return "JSON_BUILD_OBJECT(" + ", ".join(f"'{k}', {v}" for k, v in values.items()) + ")"


@cache
def _account_template() -> str:
    return _template(
        external_ref="{external_ref}",
        status="{status}",
        currency="{currency}",
        original_amount=_money("{original_amount}"),
        current_balance=_money("{current_balance}"),
        due_date="{due_date}",
        description="{description}",
        placed_at=_datetime("{placed_at}"),
        status_changed_at=_datetime("{status_changed_at}"),
        updated_at=_datetime("{updated_at}"),
        debtor=_template(
            external_ref="{debtor_ref}",
            region="{region}",
            timezone="{timezone}",
            language="{language}",
            flags="{flags}",
        ),
    )


def account() -> _Row:
    """`AccountOutput` of an `Account` row."""
    return _Row(
        _account_template(),
        external_ref="external_ref",
        status="status",
        currency="currency",
        original_amount="original_amount",
        current_balance="current_balance",
        due_date="due_date",
        description="description",
        placed_at="placed_at",
        status_changed_at="status_changed_at",
        updated_at="updated_at",
        debtor_ref="debtor__external_ref",
        region="debtor__region",
        timezone="debtor__timezone",
        language="debtor__language",
        flags="debtor__flags",
    )


@cache
def _payment_template() -> str:
    return _template(
        id="{id}",
        account="{account_ref}",
        amount=_money("{amount}"),
        currency="{currency}",
        method="{method}",
        status="{status}",
        provider="{provider}",
        provider_reference="{provider_reference}",
        received_at=_datetime("{received_at}"),
    )


def payment() -> _Row:
    """`PaymentOutput` of a `Payment` row."""
    return _Row(
        _payment_template(),
        id="id",
        account_ref="account__external_ref",
        amount="amount",
        currency="currency",
        method="method",
        status="status",
        provider="provider",
        provider_reference="provider_reference",
        received_at="received_at",
    )


@cache
def _event_template() -> str:
    return _template(
        id="{id}",
        object="'event'::text",
        type="{type}",
        created=_datetime("{created_at}"),
        api_version="{api_version}",
        data="{data}",
    )


def event() -> _Row:
    """`EventOutput` of a `WebhookEvent` row."""
    return _Row(
        _event_template(),
        id="id",
        type="type",
        created_at="created_at",
        api_version="api_version",
        data="data",
    )


def rows_json(queryset, row: Callable[[], _Row]) -> list[str]:
    """Each row's JSON text, in the queryset's order (for tests, and a page's `results`)."""
    return list(queryset.values_list(row(), flat=True))


def page(
    paginator: KeysetPagination,
    queryset,
    request: Request,
    row: Callable[[], _Row],
    serializer: type[serializers.Serializer],
):
    """One page of `queryset` as `{"next", "previous", "results"}` (`PageOutput`), each row
    written by `row`. The page's position and key are read as text (the cursor's `p` and `k`),
    so no date-time is parsed in Python.

    On another database than PostgreSQL (SQLite, what `make run` serves), which has no
    `JSON_BUILD_OBJECT`, the rows are model instances written by `serializer`, the standard
    way: the same JSON, at the cost the module's docstring gives."""
    if connections[queryset.db].vendor != "postgresql":
        rows = paginator.paginate_queryset(queryset, request)
        return HttpResponse(
            JSONRenderer().render(
                {
                    "next": paginator.get_next_link(),
                    "previous": paginator.get_previous_link(),
                    "results": serializer(rows, many=True).data,
                }
            ),
            content_type="application/json",
        )
    position = paginator.ordering[0]
    rows = paginator.paginate_queryset(
        queryset.values("id", position=Cast(position, TextField()), json=row()), request
    )
    links = [
        json.dumps(link, ensure_ascii=False)
        for link in (paginator.get_next_link(), paginator.get_previous_link())
    ]
    body = '{"next":%s,"previous":%s,"results":[%s]}' % (  # noqa: UP031 (JSON text, not format)
        *links,
        ",".join(r["json"] for r in rows),
    )
    return HttpResponse(body.encode(), content_type="application/json")
