"""Money formats in every locale the platform serves (the languages in settings, so this one
needs Django; the rest of `accounts.money` is tested without it in test_money.py)."""

from decimal import Decimal

import pycountry
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


def test_format_money_knows_every_served_locale():
    """Each language the platform speaks, in every country, is a locale babel formats money
    for (a locale babel did not know would raise on the first message to such a debtor)."""
    locales = _served_locales()
    assert len(locales) > 200
    for locale in locales:
        assert "1" in money.format_money(Decimal("1234.5"), "EUR", locale), locale
