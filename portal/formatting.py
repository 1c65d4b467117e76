"""Money and dates for the debtor's locale (babel), e.g. `1.234,50 €` and `3. März 2026`."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from decimal import Decimal

from babel.dates import format_date, format_datetime

from accounts import money


def money_format(amount: Decimal, currency: str, locale: str) -> str:
    return money.format_money(amount, currency, locale)


def date_format(
    value: date | datetime | None, locale: str, fmt: str = "long", tz: tzinfo | None = None
) -> str:
    """A date (`long`: 3 March 2026) or a date and time in `tz` (the debtor's zone)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_datetime(value, "medium" if fmt == "long" else fmt, tzinfo=tz, locale=locale)
    return format_date(value, fmt, locale=locale)
