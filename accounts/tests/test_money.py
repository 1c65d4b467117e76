import random
from decimal import Decimal

import pytest
from babel.localedata import locale_identifiers

from accounts import money


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
    ],
)
def test_quantize_rounds_half_up_to_minor_units(amount, currency, expected):
    result = money.quantize(amount, currency)
    assert result == expected
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


def test_format_money_uses_the_locale():
    assert money.format_money(Decimal("1234.5"), "EUR", "de_DE") == "1.234,50\xa0€"
    assert money.format_money(Decimal("1234.5"), "USD", "en_US") == "$1,234.50"
    assert money.format_money(Decimal("1234"), "JPY", "ja_JP") == "￥1,234"


def _babel(amount, currency, locale):
    return money._babel_format(money.quantize(amount, currency), currency, locale)


def test_format_money_writes_what_babel_writes_in_every_locale():
    """The layout fast path against babel itself: every locale babel has, the currencies a
    debt is likely in plus a random sample, amounts of every length and 0-4 decimals."""
    rng = random.Random(20261122)
    currencies = sorted(money._currencies())
    fast = 0
    for locale in locale_identifiers():
        picks = ["EUR", "USD", "GBP", "CHF", "JPY", "KWD", "INR", *rng.sample(currencies, 3)]
        for currency in picks:
            fast += money._layout(locale, currency) is not None
            for _ in range(6):
                digits = rng.randrange(1, 15)
                amount = Decimal(rng.randrange(10**digits)).scaleb(-rng.randrange(5))
                assert money.format_money(amount, currency, locale) == _babel(
                    amount, currency, locale
                ), (locale, currency, amount)
    assert fast > 0.95 * len(locale_identifiers()) * 10  # the fast path is what runs


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        ("12345678.5", "INR", "en_IN", "\u20b91,23,45,678.50"),
        ("1234.5", "CHF", "de_CH", "CHF\xa01\u2019234.50"),
        ("1234.5", "EUR", "fr_FR", "1\u202f234,50\xa0\u20ac"),
        ("-1234.5", "EUR", "de_DE", "-1.234,50\xa0\u20ac"),  # negatives: babel itself
        ("1234.567", "KWD", "ar_KW", None),
    ],
)
def test_format_money_examples(amount, currency, locale, expected):
    text = money.format_money(Decimal(amount), currency, locale)
    assert text == (expected or _babel(Decimal(amount), currency, locale))
