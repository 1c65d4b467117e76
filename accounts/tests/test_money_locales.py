"""Money reads as babel writes it in every locale the platform serves (the languages in
settings, so this one needs Django; the rest of `accounts.money` is tested without it in
test_money.py)."""

from decimal import Decimal

import pycountry
from babel.numbers import format_currency
from django.conf import settings

from accounts import money, regions


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


# One of each length and grouping step, fractions to round, a negative, the largest money.
_AMOUNTS = tuple(
    Decimal(a)
    for a in ("0", "7", "42.5", "1234.567", "56789", "1234567.891", "-1234.5", "1234567890123.45")
)


def test_format_money_is_babels_format_currency_for_every_served_locale_and_currency():
    """The platform's promise: money reads exactly as babel's `format_currency` writes it for
    the debtor's locale, in the currency's minor units, whatever CLDR release is installed."""
    pairs = [(loc, cur) for loc in _served_locales() for cur in sorted(money._currencies())]
    assert len(pairs) > 30_000  # every currency in 200+ locales, not a sample
    fast = 0
    for locale, currency in pairs:
        fast += money._layout(locale, currency) is not None
        for amount in _AMOUNTS:
            expected = format_currency(money.quantize(amount, currency), currency, locale=locale)
            assert money.format_money(amount, currency, locale) == expected, (locale, currency)
    assert fast > 0.95 * len(pairs)  # the layout (the fast path) is what runs
