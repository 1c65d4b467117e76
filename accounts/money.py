"""Money helpers: `Decimal` amounts quantized to each currency's ISO 4217 minor units.

Django-free. Used by the models, the placement validator and anything that displays money.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

import pycountry
from babel import Locale
from babel.numbers import NumberPattern, get_currency_precision

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
    """`amount` formatted for a locale, e.g. `1.234,50 €` for de_DE.

    The same text as babel's `format_currency`. Babel re-reads its pattern on every call,
    which is slow next to formatting itself; the planner formats a balance for every message
    it renders and the portal several per page, so a (locale, currency) pair whose layout
    `_layout` could read off babel's own output is formatted from that layout instead, and
    anything else by babel."""
    value = quantize(amount, currency)
    layout = _layout(locale, currency)
    if layout is None or value < 0:
        return _babel_format(value, currency, locale)
    return layout.format(value)


def _babel_format(value: Decimal, currency: str, locale: str) -> str:
    loc, pattern = _currency_format(locale)
    return pattern.apply(value, loc, currency=currency, currency_digits=True)


@lru_cache(maxsize=256)
def _currency_format(locale: str) -> tuple[Locale, NumberPattern]:
    loc = Locale.parse(locale.replace("-", "_"))
    return loc, loc.currency_formats["standard"]


@dataclass(frozen=True, slots=True)
class _Layout:
    """How one locale writes one currency: text around the number, separators, grouping."""

    prefix: str
    suffix: str
    group: str
    decimal: str
    digits: int
    primary: int
    secondary: int

    def format(self, value: Decimal) -> str:
        text = f"{value:.{self.digits}f}"
        whole, _, fraction = text.partition(".")
        if len(whole) > self.primary:
            head, groups = whole[: -self.primary], [whole[-self.primary :]]
            while len(head) > self.secondary:
                groups.append(head[-self.secondary :])
                head = head[: -self.secondary]
            groups.append(head)
            whole = self.group.join(reversed(groups))
        number = f"{whole}{self.decimal}{fraction}" if fraction else whole
        return f"{self.prefix}{number}{self.suffix}"


# Amounts whose babel text must come out the same from a layout before it is used: 1 to 10
# and 13 digits, so each grouping step (and any locale that leaves 4-digit numbers
# ungrouped) is seen.
_PROBES = tuple(
    Decimal(p)
    for p in ("0", "7", "42", "805", "1234", "56789", "123456", "1234567", "12345678",
              "123456789", "1234567890123")
)  # fmt: skip


@lru_cache(maxsize=1024)
def _layout(locale: str, currency: str) -> _Layout | None:
    """The layout babel uses for `currency` in `locale`, read off its own output for
    1234567 and checked against it on every probe; None (babel formats) when it differs."""
    digits = minor_units(currency)
    if get_currency_precision(currency) != digits:  # babel would round again: leave it be
        return None
    fraction = "89123"[:digits]
    probe = _babel_format(Decimal(f"1234567.{fraction}" if digits else "1234567"), currency,
                          locale)  # fmt: skip
    start, end = probe.find("1"), probe.rfind(fraction[-1] if digits else "7") + 1
    if start < 0 or end <= start:
        return None
    prefix, number, suffix = probe[:start], probe[start:end], probe[end:]
    if digits:
        whole, decimal = number[: -digits - 1], number[-digits - 1]
        if not number.endswith(fraction):
            return None
    else:
        whole, decimal = number, ""
    separators = {c for c in whole if not c.isdigit()}
    if len(separators) > 1:
        return None
    group = separators.pop() if separators else ""
    parts = whole.split(group) if group else [whole]
    primary = len(parts[-1])
    secondary = len(parts[-2]) if len(parts) > 2 else primary
    layout = _Layout(prefix, suffix, group, decimal, digits, primary, secondary)
    for p in _PROBES:
        if layout.format(p) != _babel_format(p, currency, locale):
            return None
    return layout
