"""Keyset pagination for the creditor API's lists (`GET /api/v1/accounts/`, `/payments/`,
`/events/`, the webhook endpoints and deliveries).

A list is ordered by a date-time and then the primary key, and each page continues after the
last row of the page before: `WHERE (updated_at, id) > (<that row's>) ORDER BY updated_at, id
LIMIT 101`. With an index on (creditor_id, updated_at, id) the database starts reading at the
right place, so the ten-thousandth page costs what the first does (docs/api.md, Pagination).
Rows that share a timestamp (a placement of 10,000 accounts shares one) are neither skipped nor
repeated, and a row changed while a client pages moves to the end, where the client reads it
again; nothing that existed unchanged is skipped.

A cursor is base64 of a query string, as DRF's `CursorPagination` writes one: `p=<position>`
(the date-time as `str` writes it), `k=<the row's primary key>`, and `r=1` for a page before.
Cursors without `k` are DRF's own (`o=<offset>&r=<0|1>&p=<position>`), as this API handed
them out before: they are read as DRF read them (the rows after the position, less the
offset, which is at most 1,000), and the next page's cursor is a keyset one again.

Anything else a client sends as a cursor answers 400 `{"cursor": ["Invalid cursor."]}`: DRF
answers an undecodable one 404 and passes any position to the database.
"""

from __future__ import annotations

import re
from base64 import b64decode, b64encode
from datetime import UTC, datetime, time
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlencode

from django.db import models
from django.db.models import F, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.utils.urls import remove_query_param, replace_query_param

from accounts.serializers import MAX_PAGE_SIZE, page_size_parse

INVALID_CURSOR = "Invalid cursor."
_MAX_BIGINT = 2**63 - 1

# A position as `str` writes an aware date-time, or PostgreSQL as text (`+00` for the offset);
# Python's own ISO parser would also read "1111111111111" or a NUL as the date/time separator.
_POSITION = re.compile(
    r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:[+-]\d\d(?::\d\d)?|Z)?\Z", re.ASCII
)
# A text primary key (an event's `evt_...`): visible ASCII, which any such key is.
_TEXT_KEY = re.compile(r"[\x21-\x7e]+\Z", re.ASCII)


class Cursor(NamedTuple):
    """A decoded cursor: after (or before, `reverse`) the row at (`position`, `key`).

    `key` None: a cursor in DRF's format, the rows after `position` less `offset`."""

    reverse: bool
    position: datetime | None
    key: int | str | None
    offset: int


def _datetime(value: str) -> datetime | None:
    """An ISO 8601 date or date-time in UTC (naive values are read as UTC), or None."""
    try:
        parsed = parse_datetime(value)
        if parsed is None:
            day = parse_date(value)
            parsed = datetime.combine(day, time.min) if day else None
        if parsed is not None and timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=UTC)
        # In UTC, a date-time near year 1 or 9999 may fall outside Python's range.
        return parsed.astimezone(UTC) if parsed is not None else None
    except (ValueError, OverflowError):
        return None


def _value(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, dict) else getattr(row, name)


def _position(row: Any, field: str) -> str:
    """A row's place in the list as the cursor's `p`: a `.values()` row's `position` (the
    date-time as text, `accounts.api_rows`), or the field's value as `str` writes it."""
    if isinstance(row, dict) and "position" in row:
        return row["position"]
    return str(_value(row, field))


class KeysetPagination(CursorPagination):
    """Pages of `page_size` (1 to `max_page_size`) rows in `ordering`: a date-time field, then
    the primary key. Reads model instances, or `.values()` dicts with the primary key and
    the field (or its text as `position`)."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    ordering = ("updated_at", "id")
    invalid_cursor_message = INVALID_CURSOR

    def get_page_size(self, request: Request) -> int:
        """`page_size` from 1 to `max_page_size`; anything else is a 400 naming it (DRF would
        quietly fall back to the default and hide the client's mistake)."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            return page_size_parse(raw)
        except serializers.ValidationError as exc:
            raise ValidationError({self.page_size_query_param: exc.detail}) from exc

    def _invalid(self) -> ValidationError:
        return ValidationError({self.cursor_query_param: [self.invalid_cursor_message]})

    def _key(self, raw: str, pk: models.Field) -> int | str:
        if isinstance(pk, models.IntegerField):
            if raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= _MAX_BIGINT:
                return int(raw)
        elif _TEXT_KEY.match(raw) and len(raw) <= (pk.max_length or 255):
            return raw
        raise self._invalid()

    def decode_cursor(self, request: Request, pk: models.Field | None = None) -> Cursor | None:
        """The request's cursor, None without one, or a 400."""
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            tokens = parse_qs(
                b64decode(encoded.encode("ascii")).decode("ascii"), keep_blank_values=True
            )
            offset = min(int(tokens.get("o", ["0"])[0]), self.offset_cutoff)
            reverse = bool(int(tokens.get("r", ["0"])[0]))
        except (TypeError, ValueError) as exc:  # binascii and Unicode errors are ValueErrors
            raise self._invalid() from exc
        if offset < 0:
            raise self._invalid()
        raw_position = tokens.get("p", [None])[0]
        raw_key = tokens.get("k", [None])[0]
        position = None
        if raw_position is not None:
            position = _datetime(raw_position) if _POSITION.match(raw_position) else None
            if position is None:
                raise self._invalid()
        key = None
        if raw_key is not None:
            if position is None or pk is None:
                raise self._invalid()
            key = self._key(raw_key, pk)
        return Cursor(reverse=reverse, position=position, key=key, offset=offset)

    def paginate_queryset(
        self, queryset: QuerySet, request: Request, view: Any = None
    ) -> list[Any]:
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        field, key = self.ordering
        cursor = self.cursor = self.decode_cursor(request, queryset.model._meta.pk)
        reverse = cursor is not None and cursor.reverse
        if reverse:
            queryset = queryset.order_by(f"-{field}", f"-{key}")
        else:
            queryset = queryset.order_by(field, key)
        offset = 0
        if cursor is not None:
            if cursor.key is not None:
                after = (TupleLessThan if reverse else TupleGreaterThan)(
                    Tuple(F(field), F(key)), (cursor.position, cursor.key)
                )
                queryset = queryset.filter(after)
            else:
                offset = cursor.offset
                if cursor.position is not None:
                    lookup = "lt" if reverse else "gt"
                    queryset = queryset.filter(**{f"{field}__{lookup}": cursor.position})
        rows = list(queryset[offset : offset + self.page_size + 1])
        more = len(rows) > self.page_size
        self.page = rows[: self.page_size]
        # Whether the cursor stands somewhere in the list rather than at one of its ends.
        inside = cursor is not None and (cursor.position is not None or cursor.offset > 0)
        if reverse:
            self.page.reverse()
            self.has_next, self.has_previous = inside, more
        else:
            self.has_next, self.has_previous = more, inside
        return self.page

    def _encode(self, *, reverse: bool, row: Any = None) -> str:
        tokens = {}
        if reverse:
            tokens["r"] = "1"
        if row is not None:
            field, key = self.ordering
            tokens["p"] = _position(row, field)
            tokens["k"] = str(_value(row, key))
        encoded = b64encode(urlencode(tokens).encode("ascii")).decode("ascii")
        return replace_query_param(self.base_url, self.cursor_query_param, encoded)

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        if not self.page:
            # Only after a page before came back empty: nothing precedes that point, so what
            # follows it is the list from its start.
            return remove_query_param(self.base_url, self.cursor_query_param)
        return self._encode(reverse=False, row=self.page[-1])

    def get_previous_link(self) -> str | None:
        if not self.has_previous:
            return None
        if not self.page:
            # Nothing follows the cursor's row: the page before is the list's last page.
            return self._encode(reverse=True)
        return self._encode(reverse=True, row=self.page[0])
