"""Dates for the debtor's locale (babel), e.g. `3. März 2026`; money is
`accounts.money.format_money`."""

from __future__ import annotations

from datetime import date, datetime, tzinfo

from babel.dates import format_date, format_datetime


def date_format(
    value: date | datetime | None, locale: str, fmt: str = "long", tz: tzinfo | None = None
) -> str:
    """A date (`long`: 3 March 2026) or a date and time in `tz` (the debtor's zone)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_datetime(value, "medium" if fmt == "long" else fmt, tzinfo=tz, locale=locale)
    return format_date(value, fmt, locale=locale)
