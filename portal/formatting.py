"""Dates for the debtor's locale (babel), e.g. `3. März 2026`; money is
`accounts.money.format_money`."""

from __future__ import annotations

from datetime import date, datetime, tzinfo

from babel import Locale
from babel.dates import format_date, format_time, get_datetime_format


def date_format(
    value: date | datetime | None, locale: str, fmt: str = "long", tz: tzinfo | None = None
) -> str:
    """A date (`long`: 3 March 2026), or a moment in `tz` (the debtor's zone): its date (`long`
    is shown `medium`, Mar 3, 2026) and its time to the minute, as the locale joins them
    ("Mar 3, 2026, 4:28 PM", "03.03.2026, 16:28"). A debtor has no use for the seconds that
    babel's `medium` date and time would add."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        local = value.astimezone(tz or value.tzinfo)
        return date_and_time(local, "medium" if fmt == "long" else fmt, "short", locale)
    return format_date(value, fmt, locale=locale)


def date_and_time(local: datetime, date_fmt: str, time_fmt: str, locale: str) -> str:
    """`local`'s date and time (as they read in its own zone) joined by the locale's pattern
    for `date_fmt`, as babel's `format_datetime` joins them (which takes one format for both;
    `portal/tests/test_formatting.py` pins this to it)."""
    loc = Locale.parse(locale)  # once, as format_datetime does, not once per part
    return (
        get_datetime_format(date_fmt, locale=loc)
        .replace("'", "")
        .replace("{0}", format_time(local, time_fmt, tzinfo=local.tzinfo, locale=loc))
        .replace("{1}", format_date(local.date(), date_fmt, locale=loc))
    )
