"""Validation of placement rows (one account and its debtor), shared by the API, CSV and admin.

A row is a plain dict as the creditor sends it (see `docs/api.md`). `validate_row` returns the
cleaned row or field errors shaped like DRF's (`{"debtor": {"phone": ["..."]}}`). It is plain
Python on purpose: a placement of 10,000 rows validates in well under a second, which DRF
serializers do not. `accounts.services.placement_upsert` writes the cleaned rows.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

import phonenumbers
import pycountry
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from accounts import money, regions
from accounts.models import DebtorFlag

ACCOUNT_FIELDS = frozenset(
    {"external_ref", "currency", "original_amount", "current_balance", "due_date", "description",
     "debtor"}
)  # fmt: skip
DEBTOR_FIELDS = frozenset(
    {"external_ref", "first_name", "last_name", "email", "phone", "address_line1",
     "address_line2", "city", "postal_code", "region", "timezone", "language", "date_of_birth",
     "flags"}
)  # fmt: skip
# Columns the debtor and the account may both be updated with on a re-placement.
DEBTOR_UPDATABLE = (
    "first_name", "last_name", "email", "phone", "address_line1", "address_line2", "city",
    "postal_code", "region", "timezone", "language", "date_of_birth", "flags",
)  # fmt: skip
ACCOUNT_UPDATABLE = ("description", "due_date")
_MAX_LENGTHS = {
    "external_ref": 100, "first_name": 100, "last_name": 100, "email": 254, "address_line1": 200,
    "address_line2": 200, "city": 100, "postal_code": 20, "description": 300,
}  # fmt: skip
_FLAGS = frozenset(DebtorFlag.values)
_email_validator = EmailValidator()
REQUIRED = "This field is required."
NUL_ERROR = "Must not contain NUL characters."  # PostgreSQL refuses NUL in text
# JSON may escape half of a UTF-16 surrogate pair ("\ud800"): no UTF-8 encoder (PostgreSQL's
# COPY, SQLite's driver, the JSON answer) accepts one.
UNSTORABLE_ERROR = (
    "Contains characters that cannot be stored (an unpaired surrogate such as \\ud800)."
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def displayable(text: str) -> str:
    """`text` fit to echo in an answer: unpaired surrogates become U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


# References identify a row to the creditor's systems and an account in the API's URLs
# (`/accounts/INV%2F2026%2F001/`): any printable text, without what a URL, a CSV line or a
# person cannot tell apart.
WHITESPACE_ERROR = "Must not start or end with whitespace."
CONTROL_ERROR = "Must not contain control characters (line breaks, tabs, invisible formatting)."
DOT_SEGMENT_ERROR = 'Must not be "." or "..": clients read them as a URL\'s path segments.'
RECALL_SUFFIX = "/recall"
RECALL_SUFFIX_ERROR = (
    f'Must not end with "{RECALL_SUFFIX}": the account\'s URL would be its recall URL.'
)
# Control (Cc: C0, DEL, C1), format (Cf: zero-width, bidi overrides) and line/paragraph
# separators; other spaces (Zs) and unassigned code points are allowed inside.
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _reference(data: dict, field: str, errors: dict, *, in_url: bool) -> str:
    """A required reference, kept exactly as given (not stripped), or "" with a field error."""
    value = _text(data, field, errors, required=True, strip=False)
    if field in errors:
        return ""
    if value != value.strip():
        errors[field] = [WHITESPACE_ERROR]
    # isprintable() is False for every refused character (and a few allowed ones): only
    # then look at each character.
    elif not value.isprintable() and any(
        unicodedata.category(char) in _CONTROL_CATEGORIES for char in value
    ):
        errors[field] = [CONTROL_ERROR]
    elif in_url and value in {".", ".."}:
        errors[field] = [DOT_SEGMENT_ERROR]
    elif in_url and value.endswith(RECALL_SUFFIX):
        errors[field] = [RECALL_SUFFIX_ERROR]
    else:
        return value
    return ""


@dataclass(slots=True)
class CleanRow:
    """A validated placement row: account values and debtor values, ready to save."""

    index: int
    account: dict[str, Any]
    debtor: dict[str, Any]


PHONE_ERROR = "Enter a valid phone number (E.164, e.g. +14155550123)."


def phone_to_e164(raw: str, country: str | None) -> str | None:
    """`raw` (international, or national for `country`) as E.164, or None if not valid."""
    try:
        number = phonenumbers.parse(raw, country)
    except phonenumbers.NumberParseException:
        return None
    # Checking against the expected country first is much cheaper (a +1 number is otherwise
    # matched against every NANP country); the full check keeps foreign numbers valid.
    if not (
        (country and phonenumbers.is_valid_number_for_region(number, country))
        or phonenumbers.is_valid_number(number)
    ):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=1)
def _languages() -> frozenset[str]:
    return frozenset(lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2"))


def _text(
    data: dict, field: str, errors: dict, *, required: bool = False, strip: bool = True
) -> str:
    raw = data.get(field)
    if raw is None or raw == "":
        if required:
            errors[field] = [REQUIRED]
        return ""
    if not isinstance(raw, str):
        if isinstance(raw, int) and not isinstance(raw, bool):
            raw = str(raw)
        else:
            errors[field] = ["Must be a string."]
            return ""
    if "\x00" in raw:
        errors[field] = [NUL_ERROR]
        return ""
    if _SURROGATE.search(raw):
        errors[field] = [UNSTORABLE_ERROR]
        return ""
    value = raw.strip()
    if required and not value:
        errors[field] = [REQUIRED]
        return ""
    if not strip:
        value = raw
    limit = _MAX_LENGTHS.get(field)
    if limit and len(value) > limit:
        errors[field] = [f"Must be at most {limit} characters."]
    return value


def _date(data: dict, field: str, errors: dict, *, past: bool = False) -> date | None:
    raw = data.get(field)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        errors[field] = ["Must be a date in YYYY-MM-DD format."]
        return None
    try:
        value = date.fromisoformat(raw.strip())
    except ValueError:
        errors[field] = ["Must be a date in YYYY-MM-DD format."]
        return None
    if past and not (date(1900, 1, 1) <= value < date.today()):
        errors[field] = ["Must be a date in the past (after 1900)."]
        return None
    return value


def _unknown(data: dict, allowed: frozenset[str], errors: dict) -> None:
    for key in data:
        if key not in allowed:
            errors[displayable(key)] = ["Unknown field."]


def _validate_debtor(data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    errors: dict[str, Any] = {}
    if not isinstance(data, dict):
        return {}, {"non_field_errors": ["Must be an object with the debtor's details."]}
    _unknown(data, DEBTOR_FIELDS, errors)
    out: dict[str, Any] = {
        "external_ref": _reference(data, "external_ref", errors, in_url=False),
        "first_name": _text(data, "first_name", errors),
        "last_name": _text(data, "last_name", errors, required=True),
        "email": _text(data, "email", errors).lower(),
        "address_line1": _text(data, "address_line1", errors),
        "address_line2": _text(data, "address_line2", errors),
        "city": _text(data, "city", errors),
        "postal_code": _text(data, "postal_code", errors),
        "date_of_birth": _date(data, "date_of_birth", errors, past=True),
    }
    if out["email"]:
        try:
            _email_validator(out["email"])
        except ValidationError:
            errors["email"] = ["Enter a valid email address."]

    out.update(_debtor_locale(data, errors))
    out["phone"] = _debtor_phone(data, errors, out["region"])
    out["flags"] = _debtor_flags(data, errors)
    return out, errors


def _debtor_locale(data: dict[str, Any], errors: dict[str, Any]) -> dict[str, str]:
    """The debtor's region, and time zone and language (given, else the region's)."""
    region = _text(data, "region", errors, required=True).upper()
    if region and not regions.is_valid(region):
        errors["region"] = [
            f"Unknown region code {region!r}: use ISO 3166-1 (FR) or ISO 3166-2 (US-MA)."
        ]
        region = ""

    tz = _text(data, "timezone", errors)
    if tz and not regions.timezone_is_valid(tz):
        errors["timezone"] = [f"Unknown IANA time zone {tz!r}."]
    elif not tz and region:
        tz = regions.timezone_for(region)

    lang = _text(data, "language", errors).lower()
    if lang and lang not in _languages():
        errors["language"] = [f"Unknown ISO 639-1 language code {lang!r}."]
    elif not lang and region:
        lang = regions.language_for(region)
    return {"region": region, "timezone": tz, "language": lang}


def _debtor_phone(data: dict[str, Any], errors: dict[str, Any], region: str) -> str:
    """The phone number in E.164, read in the region's country; "" when none or invalid."""
    raw_phone = _text(data, "phone", errors)
    if not raw_phone:
        return ""
    e164 = phone_to_e164(raw_phone, regions.country_of(region) if region else None)
    if e164 is None:
        errors["phone"] = [PHONE_ERROR]
        return ""
    return e164


def _debtor_flags(data: dict[str, Any], errors: dict[str, Any]) -> list[str]:
    """The known flags, from a list or a `;`/`|`-separated string; unknown ones are errors."""
    flags = data.get("flags") or []
    if isinstance(flags, str):
        flags = [f for f in (part.strip() for part in flags.replace("|", ";").split(";")) if f]
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        errors["flags"] = ["Must be a list of flag names."]
        flags = []
    unknown = sorted(set(flags) - _FLAGS)
    if unknown:
        errors["flags"] = [f"Unknown flag(s): {displayable(', '.join(unknown))}."]
    return sorted(set(flags) & _FLAGS)


def validate_row(
    index: int, row: Any, *, default_currency: str
) -> tuple[CleanRow | None, dict[str, Any]]:
    """Validate one placement row; returns (clean row, {}) or (None, field errors)."""
    if not isinstance(row, dict):
        return None, {"non_field_errors": ["Each row must be a JSON object."]}
    errors: dict[str, Any] = {}
    _unknown(row, ACCOUNT_FIELDS, errors)
    account: dict[str, Any] = {
        "external_ref": _reference(row, "external_ref", errors, in_url=True),
        "description": _text(row, "description", errors),
        "due_date": _date(row, "due_date", errors),
    }
    currency = _text(row, "currency", errors) or default_currency
    currency = currency.upper()
    if not money.currency_is_known(currency):
        errors["currency"] = [f"Unknown ISO 4217 currency code {currency!r}."]
    account["currency"] = currency

    def amount(field: str, *, required: bool) -> Decimal | None:
        raw = row.get(field)
        if raw is None or raw == "":
            if required:
                errors[field] = [REQUIRED]
            return None
        if "currency" in errors:
            return None
        try:
            value = money.parse_amount(raw, currency)
        except money.MoneyError as exc:
            errors[field] = [str(exc)]
            return None
        if value <= 0:
            errors[field] = ["Must be greater than zero."]
            return None
        return value

    original = amount("original_amount", required=True)
    balance = amount("current_balance", required=False)
    account["original_amount"] = original
    account["current_balance"] = balance if balance is not None else original

    debtor, debtor_errors = _validate_debtor(row.get("debtor"))
    if "debtor" not in row:
        debtor_errors = {"non_field_errors": [REQUIRED]}
    if debtor_errors:
        errors["debtor"] = debtor_errors
    if errors:
        return None, errors
    return CleanRow(index=index, account=account, debtor=debtor), {}


# --- CSV --------------------------------------------------------------------------------------
CSV_DEBTOR_PREFIX = "debtor_"
CSV_COLUMNS = [
    "external_ref", "currency", "original_amount", "current_balance", "due_date", "description",
    "debtor_external_ref", "debtor_first_name", "debtor_last_name", "debtor_email",
    "debtor_phone", "debtor_address_line1", "debtor_address_line2", "debtor_city",
    "debtor_postal_code", "debtor_region", "debtor_timezone", "debtor_language",
    "debtor_date_of_birth", "debtor_flags",
]  # fmt: skip


class CsvError(ValueError):
    """The CSV file as a whole cannot be read (encoding, header)."""


def rows_from_csv(data: bytes | str) -> list[dict[str, Any]]:
    """Turn a placement CSV (header row, `debtor_` columns, flags split by `;`) into rows.

    Blank cells are left out, so they read as "not given". Raises `CsvError` for a file that
    is not UTF-8 or whose header names unknown columns.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CsvError("The file is not UTF-8 encoded text.") from exc
    reader = csv.DictReader(io.StringIO(data))
    header = reader.fieldnames or []
    if not header:
        raise CsvError("The file is empty or has no header row.")
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise CsvError(
            f"Unknown column(s): {', '.join(unknown)}. Expected columns: {', '.join(CSV_COLUMNS)}."
        )
    rows = []
    for record in reader:
        if None in record:  # DictReader's key for cells beyond the header
            raise CsvError(f"Line {reader.line_num} has more cells than the header row.")
        row: dict[str, Any] = {}
        debtor: dict[str, Any] = {}
        for key, value in record.items():
            if value is None or value.strip() == "":
                continue
            if key.startswith(CSV_DEBTOR_PREFIX):
                debtor[key[len(CSV_DEBTOR_PREFIX) :]] = value
            else:
                row[key] = value
        row["debtor"] = debtor
        rows.append(row)
    return rows


def _csv_errors(errors: Any, column: str = "") -> Iterable[tuple[str, str]]:
    """(CSV column, message) for each message of a rejected row's `errors`; the debtor's
    errors are nested under `debtor` and belong to its `debtor_` columns."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            if key == "non_field_errors":
                yield from _csv_errors(value, column.removesuffix("_"))
            elif key == "debtor" and not column:
                yield from _csv_errors(value, CSV_DEBTOR_PREFIX)
            else:
                yield from _csv_errors(value, f"{column}{key}")
    elif isinstance(errors, list | tuple):
        for value in errors:
            yield from _csv_errors(value, column)
    else:
        yield column.removesuffix("_"), str(errors)


def rejected_row_errors(rejected: dict[str, Any]) -> list[str]:
    """A rejected CSV row's errors as sentences naming the line and the column, e.g.
    "Line 3 (INV-1001): debtor_email — Enter a valid email address." (line 1 is the header,
    so the first row, index 0, is line 2)."""
    where = f"Line {rejected['index'] + 2} ({rejected.get('external_ref') or 'no external_ref'})"
    return [
        f"{where}: {column} — {message}" if column else f"{where}: {message}"
        for column, message in _csv_errors(rejected["errors"])
    ]
