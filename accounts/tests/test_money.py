from decimal import Decimal

import pycountry
import pytest
from babel.localedata import locale_identifiers
from babel.numbers import format_currency
from django.conf import settings
from hypothesis import given
from hypothesis import settings as settings_hypothesis
from hypothesis import strategies as st

from accounts import money, regions


@pytest.mark.parametrize(
    ("currency", "places"), [("JPY", 0), ("EUR", 2), ("USD", 2), ("KWD", 3), ("BHD", 3)]
)
def test_minor_units_follow_iso_4217(currency, places):
    assert money.minor_units(currency) == places


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("10.5", "JPY", Decimal("11")),
        ("10.4", "JPY", Decimal("10")),
        ("1.005", "EUR", Decimal("1.01")),
        ("1.004", "EUR", Decimal("1.00")),
        ("1.0005", "KWD", Decimal("1.001")),
        ("-2.345", "USD", Decimal("-2.35")),
        ("-0.001", "EUR", Decimal("0.00")),  # no negative zero
    ],
)
def test_quantize_rounds_half_up_to_minor_units(amount, currency, expected):
    result = money.quantize(amount, currency)
    assert result == expected
    assert result.is_signed() == (expected < 0)  # Decimal("-0.00") == 0, but prints "-0.00"
    assert result.as_tuple().exponent == -money.minor_units(currency)


def test_parse_amount_refuses_more_decimals_than_the_currency_has():
    assert money.parse_amount("1000", "JPY") == Decimal("1000")
    with pytest.raises(money.MoneyError, match="at most 0 decimal places"):
        money.parse_amount("1000.5", "JPY")
    with pytest.raises(money.MoneyError, match="at most 2 decimal places"):
        money.parse_amount("10.001", "EUR")
    assert money.parse_amount("10.001", "KWD") == Decimal("10.001")


@pytest.mark.parametrize("raw", [0.1, True, None, "abc", "NaN", "Infinity", [], "1e40"])
def test_parse_amount_refuses_floats_and_non_numbers(raw):
    with pytest.raises(money.MoneyError):
        money.parse_amount(raw, "EUR")


def test_unknown_and_non_money_currencies_are_refused():
    assert not money.currency_is_known("ABC")
    assert not money.currency_is_known("XXX")  # "no currency"
    assert not money.currency_is_known("eur")
    with pytest.raises(money.MoneyError):
        money.minor_units("ABC")


@pytest.mark.parametrize(
    ("total", "parts", "currency", "expected"),
    [
        ("100.00", 3, "EUR", ["33.33", "33.33", "33.34"]),
        ("1000", 3, "JPY", ["333", "333", "334"]),
        ("1.000", 3, "KWD", ["0.333", "0.333", "0.334"]),
        ("50", 1, "USD", ["50.00"]),
    ],
)
def test_split_evenly_adds_up_exactly(total, parts, currency, expected):
    amounts = money.split_evenly(Decimal(total), parts, currency)
    assert amounts == [Decimal(x) for x in expected]
    assert sum(amounts) == Decimal(total)


def _served_locales() -> list[str]:
    """Every babel locale the platform formats for: each language it speaks (the portal's and
    the messages' languages, and every region's default language) in every country."""
    languages = {code for code, _name in settings.LANGUAGES} | set(
        regions._REGION_LANGUAGES.values()
    )
    return sorted(
        {regions.babel_locale(language, c.alpha_2) for language in languages
         for c in pycountry.countries} | languages
    )  # fmt: skip


def test_format_money_knows_every_served_locale():
    """Each language the platform speaks, in every country, is a locale babel formats money
    for (a locale babel did not know would raise on the first message to such a debtor)."""
    locales = _served_locales()
    assert len(locales) > 200
    for locale in locales:
        assert "1" in money.format_money(Decimal("1234.5"), "EUR", locale), locale


@settings_hypothesis(max_examples=400, deadline=None)
@given(
    locale=st.sampled_from(sorted(locale_identifiers())),
    currency=st.sampled_from(sorted(money._currencies())),
    digits=st.integers(min_value=0, max_value=14),
    places=st.integers(min_value=0, max_value=4),
    sign=st.sampled_from((1, -1)),
    data=st.data(),
)
def test_format_money_writes_what_babel_writes_for_any_amount_in_any_locale(
    locale, currency, digits, places, sign, data
):
    units = data.draw(st.integers(min_value=0, max_value=10**digits - 1 if digits else 0))
    amount = Decimal(sign * units).scaleb(-places)
    expected = format_currency(money.quantize(amount, currency), currency, locale=locale)
    assert money.format_money(amount, currency, locale) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "shown_as"),
    [
        ("1234.5", "JPY", "1235"),  # no minor unit: rounded half up to whole yen
        ("1234.5", "EUR", "1234.50"),
        ("1.2345", "KWD", "1.235"),  # three decimals
        ("12345678.5", "INR", "12345678.50"),
    ],
)
def test_format_money_shows_the_currencys_minor_units(amount, currency, shown_as):
    for locale in ("en", "de_DE", "fr_FR", "hi_IN"):
        text = money.format_money(Decimal(amount), currency, locale)
        assert text == format_currency(Decimal(shown_as), currency, locale=locale)
