"""Region codes (ISO 3166-1 alpha-2 or ISO 3166-2) and what follows from them.

Django-free. A debtor's region decides which contact rules apply (compliance), the default
IANA time zone and the default language. A few sub-national areas with their own rules and no
ISO code (New York City) get a code of their own under their ISO parent.
"""

from functools import lru_cache
from zoneinfo import available_timezones

import pycountry
from babel.core import get_global

# Areas with their own collection rules but no ISO 3166-2 code: code -> (name, parent code).
EXTRA_REGIONS: dict[str, tuple[str, str]] = {
    "US-NY-NYC": ("New York City", "US-NY"),
}

# Subdivision time zones for federations that span several zones. Where a subdivision itself
# spans zones the zone of most of its population is used; the debtor's own `timezone` wins.
_SUBDIVISION_ZONES: dict[str, str] = {
    # United States
    "US-AL": "America/Chicago", "US-AK": "America/Anchorage", "US-AZ": "America/Phoenix",
    "US-AR": "America/Chicago", "US-CA": "America/Los_Angeles", "US-CO": "America/Denver",
    "US-CT": "America/New_York", "US-DE": "America/New_York", "US-DC": "America/New_York",
    "US-FL": "America/New_York", "US-GA": "America/New_York", "US-HI": "Pacific/Honolulu",
    "US-ID": "America/Boise", "US-IL": "America/Chicago", "US-IN": "America/Indiana/Indianapolis",
    "US-IA": "America/Chicago", "US-KS": "America/Chicago", "US-KY": "America/New_York",
    "US-LA": "America/Chicago", "US-ME": "America/New_York", "US-MD": "America/New_York",
    "US-MA": "America/New_York", "US-MI": "America/Detroit", "US-MN": "America/Chicago",
    "US-MS": "America/Chicago", "US-MO": "America/Chicago", "US-MT": "America/Denver",
    "US-NE": "America/Chicago", "US-NV": "America/Los_Angeles", "US-NH": "America/New_York",
    "US-NJ": "America/New_York", "US-NM": "America/Denver", "US-NY": "America/New_York",
    "US-NC": "America/New_York", "US-ND": "America/Chicago", "US-OH": "America/New_York",
    "US-OK": "America/Chicago", "US-OR": "America/Los_Angeles", "US-PA": "America/New_York",
    "US-RI": "America/New_York", "US-SC": "America/New_York", "US-SD": "America/Chicago",
    "US-TN": "America/Chicago", "US-TX": "America/Chicago", "US-UT": "America/Denver",
    "US-VT": "America/New_York", "US-VA": "America/New_York", "US-WA": "America/Los_Angeles",
    "US-WV": "America/New_York", "US-WI": "America/Chicago", "US-WY": "America/Denver",
    "US-PR": "America/Puerto_Rico", "US-GU": "Pacific/Guam", "US-VI": "America/St_Thomas",
    "US-AS": "Pacific/Pago_Pago", "US-MP": "Pacific/Saipan", "US-UM": "Pacific/Wake",
    "US-NY-NYC": "America/New_York",
    # Canada
    "CA-AB": "America/Edmonton", "CA-BC": "America/Vancouver", "CA-MB": "America/Winnipeg",
    "CA-NB": "America/Moncton", "CA-NL": "America/St_Johns", "CA-NS": "America/Halifax",
    "CA-NT": "America/Yellowknife", "CA-NU": "America/Iqaluit", "CA-ON": "America/Toronto",
    "CA-PE": "America/Halifax", "CA-QC": "America/Toronto", "CA-SK": "America/Regina",
    "CA-YT": "America/Whitehorse",
    # Australia
    "AU-ACT": "Australia/Sydney", "AU-NSW": "Australia/Sydney", "AU-NT": "Australia/Darwin",
    "AU-QLD": "Australia/Brisbane", "AU-SA": "Australia/Adelaide", "AU-TAS": "Australia/Hobart",
    "AU-VIC": "Australia/Melbourne", "AU-WA": "Australia/Perth",
    # Mexico and Brazil's most populous zones
    "MX-BCN": "America/Tijuana", "ES-CN": "Atlantic/Canary", "PT-20": "Atlantic/Azores",
}  # fmt: skip

# Country -> zone for countries whose capital's zone is not the first the tz database lists
# or which span zones; every other country uses the first zone CLDR lists for it.
_COUNTRY_ZONES: dict[str, str] = {
    "US": "America/New_York", "CA": "America/Toronto", "AU": "Australia/Sydney",
    "RU": "Europe/Moscow", "BR": "America/Sao_Paulo", "MX": "America/Mexico_City",
    "ES": "Europe/Madrid", "PT": "Europe/Lisbon", "DE": "Europe/Berlin", "NZ": "Pacific/Auckland",
    "CN": "Asia/Shanghai", "ID": "Asia/Jakarta", "KZ": "Asia/Almaty",
    "AR": "America/Argentina/Buenos_Aires",
    "CL": "America/Santiago", "EC": "America/Guayaquil", "UA": "Europe/Kyiv",
}  # fmt: skip

# Default language per region when the creditor does not give one (ISO 639-1).
_REGION_LANGUAGES: dict[str, str] = {
    "FR": "fr", "DE": "de", "AT": "de", "CH": "de", "LI": "de", "LU": "fr", "BE": "fr",
    "MC": "fr", "CA-QC": "fr", "ES": "es", "MX": "es", "IT": "it", "NL": "nl", "PT": "pt",
    "BR": "pt", "PL": "pl",
}  # fmt: skip


def normalize(code: str) -> str:
    return code.strip().upper()


@lru_cache(maxsize=4096)
def is_valid(code: str) -> bool:
    """Whether `code` names a country (`FR`), a subdivision (`US-MA`) or an extra region."""
    if not isinstance(code, str) or not code:
        return False
    if code in EXTRA_REGIONS:
        return True
    if len(code) == 2:
        return pycountry.countries.get(alpha_2=code) is not None
    if "-" in code:
        return pycountry.subdivisions.get(code=code) is not None
    return False


def country_of(code: str) -> str:
    """The ISO 3166-1 alpha-2 country of a region code (`US-NY-NYC` -> `US`)."""
    return code.split("-", 1)[0]


def parent_of(code: str) -> str | None:
    """The region directly above `code` (`US-NY-NYC` -> `US-NY`, `US-MA` -> `US`, `US` -> None)."""
    if code in EXTRA_REGIONS:
        return EXTRA_REGIONS[code][1]
    if "-" in code:
        sub = pycountry.subdivisions.get(code=code)
        if sub is not None and getattr(sub, "parent_code", None):
            return sub.parent_code
        return country_of(code)
    return None


def name_of(code: str) -> str:
    if code in EXTRA_REGIONS:
        return EXTRA_REGIONS[code][0]
    if len(code) == 2:
        country = pycountry.countries.get(alpha_2=code)
        return country.name if country else code
    sub = pycountry.subdivisions.get(code=code)
    return sub.name if sub else code


@lru_cache(maxsize=4096)
def timezone_for(code: str) -> str:
    """The default IANA time zone of a region (used when the creditor gives none)."""
    code = normalize(code)
    node: str | None = code
    while node:
        if node in _SUBDIVISION_ZONES:
            return _SUBDIVISION_ZONES[node]
        node = parent_of(node) if node != country_of(node) else None
    country = country_of(code)
    if country in _COUNTRY_ZONES:
        return _COUNTRY_ZONES[country]
    zones = get_global("territory_zones").get(country) or []
    return zones[0] if zones else "UTC"


@lru_cache(maxsize=4096)
def language_for(code: str) -> str:
    """The default language of a region (ISO 639-1), English when unknown."""
    code = normalize(code)
    return _REGION_LANGUAGES.get(code) or _REGION_LANGUAGES.get(country_of(code)) or "en"


@lru_cache(maxsize=1)
def known_timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def timezone_is_valid(name: str) -> bool:
    return isinstance(name, str) and name in known_timezones()


@lru_cache(maxsize=256)
def babel_locale(language: str, region: str = "") -> str:
    """The babel locale for a language in a region: `fr` + `CA-QC` -> `fr_CA`.

    Falls back to the bare language, then English, when babel lacks the pair. Used by every
    place that formats money and dates for a debtor (messages, the portal).
    """
    from babel import Locale, UnknownLocaleError

    language = (language or "en").split("-")[0].lower()
    country = country_of(region) if region else ""
    for candidate in (f"{language}_{country}" if country else "", language, "en"):
        if not candidate:
            continue
        try:
            Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            continue
        return candidate
    return "en"
