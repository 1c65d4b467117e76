"""The sandboxed renderer for message content, and SMS segment counting.

Django-free. Editors write plain text with `{{ placeholder }}` slots taken from a fixed,
documented context (`PLACEHOLDERS`); nothing else is interpreted: no filters, no tags, no
attribute access, no expressions. `template_errors` is what the Wagtail form runs when an editor
saves (so a bad template is a form error, never a 500); `render` is what sending runs and raises
`RenderError` (never anything else) for text that would not validate. Values are substituted in
one pass, so a debtor whose name contains `{{ balance }}` cannot pull other values in.

Disclosure texts from compliance use `{name}` slots; `fill_disclosure` fills those from a
separate, equally fixed set of values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

PLACEHOLDERS: dict[str, str] = {
    "first_name": "The debtor's first name.",
    "last_name": "The debtor's last name.",
    "creditor_name": "The creditor's display name (who the debt is owed to).",
    "balance": "The balance still owed, in the account's currency, formatted for the debtor's "
    "locale (e.g. 1.234,50 €).",
    "original_amount": "The amount originally placed, formatted like the balance.",
    "account_reference": "The creditor's reference for the debt (e.g. an invoice number).",
    "description": "What the debt is for, as the creditor described it.",
    "due_date": "The date the debt was due, in the debtor's locale (e.g. 1 October 2026).",
    "instalment_amount": "The next open instalment of the active payment plan, formatted.",
    "instalment_due_date": "The due date of the next open instalment, in the debtor's locale.",
    "pause_end_date": "The day a pause on the account ends, in the debtor's locale.",
    "portal_link": "The debtor's personal link to the self-service portal.",
    "opt_out_link": "A link that stops messages on this channel (email: one-click).",
    "contact_phone": "The phone number debtors can call us on.",
    "contact_email": "The e-mail address debtors can write to.",
}
"""Every placeholder an editor may use, with what it is. Nothing else is ever rendered."""

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_NAME_RE = re.compile(_NAME)
_SLOT = re.compile(r"\{\{\s*(" + _NAME + r")\s*\}\}")
_DOUBLE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_TAG_MARKERS = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
_SINGLE = re.compile(r"(?<!\{)\{\s*(" + _NAME + r")\s*\}(?!\})")
_DISCLOSURE_SLOT = re.compile(r"\{(" + _NAME + r")\}")


class RenderError(ValueError):
    """Content that cannot be rendered: an unknown placeholder, tag syntax or a missing value."""


def _short(fragment: str) -> str:
    fragment = " ".join(fragment.split())
    return fragment if len(fragment) <= 40 else fragment[:37] + "..."


@dataclass(frozen=True, slots=True)
class _Template:
    """A text parsed once: its `{{ ... }}` slots in order (a name, or the error of a slot that is
    not one), the errors that do not depend on which names are allowed, and the text split
    around its slots (literal, name, literal, ..., literal) for filling."""

    slots: tuple[tuple[str, str], ...]  # ("name", name) or ("error", message), in text order
    other_errors: tuple[str, ...]
    parts: tuple[str, ...]

    def errors(self, allowed: Mapping[str, str]) -> list[str]:
        errors = [
            value if kind == "error" else _unknown(value, allowed)
            for kind, value in self.slots
            if kind == "error" or value not in allowed
        ]
        return errors + list(self.other_errors)

    def fill(self, context: Mapping[str, str]) -> str:
        out = list(self.parts)
        for i in range(1, len(out), 2):
            name = out[i]
            result = context.get(name)
            if not result:
                raise RenderError(f"No value for {{{{ {name} }}}} for this debtor or account.")
            out[i] = str(result)
        return "".join(out)


def _unknown(name: str, allowed: Mapping[str, str]) -> str:
    return f"Unknown placeholder {{{{ {name} }}}}. Use one of: " + ", ".join(sorted(allowed)) + "."


@lru_cache(maxsize=2048)
def _parsed(text: str) -> _Template:
    """`text` parsed; the same few dozen variant texts are rendered for every message, so
    each is parsed once per process (a bounded cache: an edited text is a new key)."""
    slots: list[tuple[str, str]] = []
    for match in _DOUBLE.finditer(text):
        inner = match.group(1).strip()
        if _NAME_RE.fullmatch(inner):
            slots.append(("name", inner))
        else:
            slots.append(
                (
                    "error",
                    f"{{{{{_short(match.group(1))}}}}} is not a placeholder: only "
                    "{{ name }} is allowed (no filters, attributes or expressions).",
                )
            )
    other: list[str] = []
    rest = _DOUBLE.sub(" ", text)
    for match in _TAG_MARKERS.finditer(rest):
        other.append(
            f"Template syntax {match.group(0)!r} is not allowed: content is plain text with "
            "{{ name }} placeholders only."
        )
        break
    for match in _SINGLE.finditer(rest):
        name = match.group(1)
        other.append(f"{{{name}}} looks like a placeholder; write {{{{ {name} }}}}.")
    return _Template(tuple(slots), tuple(other), tuple(_SLOT.split(text)))


def template_errors(text: str, *, allowed: Mapping[str, str] | None = None) -> list[str]:
    """Problems with `text` as message content, as messages fit to show an editor ([] = fine)."""
    if not text:
        return []
    return _parsed(text).errors(PLACEHOLDERS if allowed is None else allowed)


def render(text: str, context: Mapping[str, str]) -> str:
    """Substitute `{{ name }}` slots from `context`; raise `RenderError` for anything else.

    A slot whose value is missing or empty is an error: a message is never sent with a gap.
    The text is parsed once per process (`_parsed`), then filled for each debtor.
    """
    if not text:
        return ""
    template = _parsed(text)
    errors = template.errors(context)
    if errors:
        raise RenderError(errors[0])
    return template.fill(context)


def fill_disclosure(text: str, values: Mapping[str, str]) -> str:
    """Fill a compliance disclosure's `{name}` slots; raise `RenderError` if one has no value.

    A value that ends a sentence with a full stop ("No interest is charged.") loses it where
    the text puts its own right after the slot, so the debtor never reads "charged.."."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        result = values.get(name)  # values may compute on demand; a missing one is None
        if not result:
            raise RenderError(f"No value configured for the disclosure field {{{name}}}.")
        result = str(result)
        if text.startswith(".", match.end()) and result.endswith("."):
            return result[:-1]
        return result

    return _DISCLOSURE_SLOT.sub(value, text)


def disclosure_fields(text: str) -> set[str]:
    """The `{name}` slots a disclosure text needs."""
    return set(_DISCLOSURE_SLOT.findall(text or ""))


# --- SMS segments ----------------------------------------------------------------------------

# GSM 03.38 default alphabet and its extension table (extension characters cost two septets).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
_GSM_ALL = _GSM_BASIC | _GSM_EXTENDED


@dataclass(frozen=True, slots=True)
class Segments:
    """How an SMS text is sent: encoding, length in encoding units, and segment count."""

    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int  # capacity of one segment at this length (160/153 or 70/67)

    def describe(self) -> str:
        """One line for editors, e.g. `GSM-7, 172 characters, 2 segments (153 each)`."""
        unit = "characters" if self.encoding == "GSM-7" else "UTF-16 units"
        plural = "segment" if self.segments == 1 else "segments"
        return (
            f"{self.encoding}, {self.units} {unit}, {self.segments} {plural} "
            f"({self.per_segment} each)"
        )


# Spaces babel puts inside amounts and dates ("129,69\u00a0€", "1\u202f326,38\u00a0€"): no-break
# and narrow no-break. GSM-7 has neither, so one of them alone makes a whole SMS UCS-2.
_NO_BREAK_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " "})


def sms_gsm_spaces(text: str) -> str:
    """`text` with its no-break spaces made plain when that alone makes it GSM-7.

    A German or French SMS quoting an amount was UCS-2 for its no-break spaces only: 70
    characters a segment instead of 160, so two or three segments paid for one or two. A
    text that needs UCS-2 anyway (an "ê", an emoji) keeps its no-break spaces, which keep an
    amount and its currency on one line."""
    if _is_gsm(text):
        return text
    plain = text.translate(_NO_BREAK_SPACES)
    return plain if _is_gsm(plain) else text


def _is_gsm(text: str) -> bool:
    return _GSM_ALL.issuperset(text)


def sms_segments(text: str) -> Segments:
    """Count the SMS segments `text` needs (GSM-7 when every character allows it, else UCS-2).

    One segment holds 160 GSM-7 septets or 70 UCS-2 units; a concatenated message uses 153 or
    67 per segment (the rest is the concatenation header). An extension character (two septets)
    or a surrogate pair (two units) is never split across segments.
    """
    if _is_gsm(text):
        costs = [2 if ch in _GSM_EXTENDED else 1 for ch in text]
        encoding, single, multi = "GSM-7", 160, 153
    else:
        costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        encoding, single, multi = "UCS-2", 70, 67
    units = sum(costs)
    if units == 0:
        return Segments(encoding, 0, 0, single)
    if units <= single:
        return Segments(encoding, units, 1, single)
    segments, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            segments += 1
            used = 0
        used += cost
    return Segments(encoding, units, segments, multi)
