"""The portal's dates and moments, as babel writes them for the debtor's locale."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date, format_datetime, format_time

from portal.formatting import date_and_time, date_format

MOMENT = datetime(2026, 12, 14, 9, 28, 54, tzinfo=UTC)
NEW_YORK, BERLIN = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")
LOCALES = ["en", "en_GB", "de", "de_DE", "fr", "es", "ja"]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("fmt", ["short", "medium", "long", "full"])
def test_the_date_and_time_are_joined_as_babels_own_format_datetime_joins_them(locale, fmt):
    local = MOMENT.astimezone(NEW_YORK)
    assert date_and_time(local, fmt, fmt, locale) == format_datetime(
        MOMENT, fmt, tzinfo=NEW_YORK, locale=locale
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_a_moment_is_its_medium_date_and_its_time_to_the_minute_in_the_debtors_zone(locale):
    shown = date_format(MOMENT, locale, "medium", tz=BERLIN)
    assert format_date(date(2026, 12, 14), "medium", locale=locale) in shown
    assert format_time(MOMENT, "short", tzinfo=BERLIN, locale=locale) in shown
    assert "54" not in shown  # no seconds
    assert format_time(MOMENT, "short", tzinfo=NEW_YORK, locale=locale) not in shown


def test_german_reads_as_a_debtor_expects_and_a_plain_date_is_long():
    assert date_format(MOMENT, "de_DE", tz=BERLIN).endswith("10:28")
    assert date_format(date(2026, 3, 3), "de_DE") == format_date(
        date(2026, 3, 3), "long", locale="de_DE"
    )
    assert date_format(None, "en") == ""
