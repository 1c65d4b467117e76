"""Money and dates for the debtor's locale (babel), e.g. `1.234,50 €` and `3. März 2026`."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime

from accounts import money, regions


@lru_cache(maxsize=256)
def babel_locale(language: str, region: str = "") -> str:
    """`fr` + `CA-QC` -> `fr_CA`; falls back to the bare language when babel lacks the pair."""
    language = (language or "en").split("-")[0].lower()
    country = regions.country_of(region) if region else ""
    for candidate in (f"{language}_{country}" if country else "", language, "en"):
        if not candidate:
            continue
        try:
            Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            continue
        return candidate
    return "en"


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
