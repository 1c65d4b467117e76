"""Money helpers: `Decimal` amounts quantized to each currency's ISO 4217 minor units.

Django-free. Used by the models, the placement validator and anything that displays money.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

import pycountry
from babel.numbers import format_currency, get_currency_precision

# CLDR (through babel) gives display precision; for a few currencies it differs from the ISO
# 4217 minor unit that payment systems use. ISO wins here.
_ISO_MINOR_UNITS = {
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0, "HUF": 2, "IDR": 2, "TWD": 2,
}  # fmt: skip

MAX_DIGITS = 18
DECIMAL_PLACES = 4  # enough for every ISO 4217 minor unit (CLF has 4)


class MoneyError(ValueError):
    """An amount or currency that cannot be used as money."""


# Codes in ISO 4217 that are not money a debt can be owed in (metals, funds, test codes).
_NOT_MONEY = {"XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA",
              "XXX"}  # fmt: skip


@lru_cache(maxsize=1)
def _currencies() -> frozenset[str]:
    # pycountry carries the current ISO 4217 list (babel's also has withdrawn currencies).
    return frozenset(c.alpha_3 for c in pycountry.currencies) - _NOT_MONEY


def known_currencies() -> frozenset[str]:
    """Every ISO 4217 code a debt can be owed in."""
    return _currencies()


def currency_is_known(code: str) -> bool:
    """Whether `code` is an ISO 4217 currency code (upper case, e.g. `EUR`)."""
    return isinstance(code, str) and code in _currencies()


@lru_cache(maxsize=512)
def minor_units(currency: str) -> int:
    """Number of digits after the decimal point for `currency` (JPY 0, EUR 2, KWD 3)."""
    if not currency_is_known(currency):
        raise MoneyError(f"Unknown currency code {currency!r}.")
    if currency in _ISO_MINOR_UNITS:
        return _ISO_MINOR_UNITS[currency]
    return get_currency_precision(currency)


@lru_cache(maxsize=512)
def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def quantize(amount: Decimal | int | str, currency: str) -> Decimal:
    """Round `amount` half-up to the minor unit of `currency` (for computed amounts).

    A negative amount that rounds to nothing is plain zero: "-0.00" is no amount anyone owes,
    and babel would print it with a minus sign."""
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise MoneyError(f"{amount!r} is not a number.") from exc
    if not value.is_finite():
        raise MoneyError(f"{amount!r} is not a finite number.")
    result = value.quantize(_quantum(currency), rounding=ROUND_HALF_UP)
    return result.copy_abs() if result.is_zero() else result


def parse_amount(raw: object, currency: str) -> Decimal:
    """Parse money given by a client: exact, positive, no more decimals than `currency` has.

    Floats are refused: a JSON number like 0.1 is already inexact, so clients send strings
    (or integers). Raises `MoneyError` with a message fit to show to the client.
    """
    if isinstance(raw, bool | float):
        raise MoneyError('Send amounts as a decimal string, e.g. "120.50".')
    if isinstance(raw, int):
        value = Decimal(raw)
    elif isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, str):
        try:
            value = Decimal(raw.strip())
        except InvalidOperation as exc:
            raise MoneyError(f"{raw!r} is not a decimal number.") from exc
    else:
        raise MoneyError('Send amounts as a decimal string, e.g. "120.50".')
    if not value.is_finite():
        raise MoneyError("Amount must be a finite number.")
    places = minor_units(currency)
    if -value.as_tuple().exponent > places:  # type: ignore[operator]
        raise MoneyError(f"{currency} amounts have at most {places} decimal places.")
    if value.adjusted() >= MAX_DIGITS - DECIMAL_PLACES:
        raise MoneyError("Amount is too large.")
    return value.quantize(_quantum(currency))


def split_evenly(total: Decimal, parts: int, currency: str) -> list[Decimal]:
    """Split `total` into `parts` amounts in minor units; the last part absorbs the remainder.

    The parts always add up to `total` exactly, e.g. 100.00 EUR / 3 -> 33.33, 33.33, 33.34.
    """
    if parts < 1:
        raise MoneyError("Cannot split into fewer than one part.")
    total = quantize(total, currency)
    quantum = _quantum(currency)
    units = int(total / quantum)
    base, _remainder = divmod(units, parts)
    amounts = [Decimal(base) * quantum] * (parts - 1)
    amounts.append(total - sum(amounts, Decimal(0)))
    return [a.quantize(quantum) for a in amounts]


def format_money(amount: Decimal, currency: str, locale: str = "en") -> str:
    """`amount` formatted for a locale, e.g. `1.234,50 €` for de_DE: babel's `format_currency`
    of the amount rounded to the currency's ISO 4217 minor units (`quantize`).

    A faster layout of its own was measured against babel and removed (docs/benchmarks.md,
    "Standard mechanisms and the exceptions kept")."""
    return format_currency(quantize(amount, currency), currency, locale=locale.replace("-", "_"))
