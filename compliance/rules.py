"""Conversions between rule rows (``compliance.models``) and the shipped pack format.

Every path from stored data to the engine goes through the pack format: a row becomes a pack
rule dict (``rule_dict``) and ``packs.rule_from_dict`` builds the engine rule from it, exactly
as for the JSON files. So the database and the JSON packs cannot drift apart, and the loader,
the admin's validation, the audit trail (``RuleChange.before/after``) and the edit detection of
``load_rule_packs`` all speak one format.

No database access here: functions read attributes only, so the data migration can pass its
historical models. Used by ``compliance.models`` (validation), ``compliance.loading`` (packs ->
rows), ``compliance.selectors`` (rows -> engine) and ``compliance.admin`` (audit snapshots).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from itertools import pairwise
from typing import Any

from compliance import engine, packs

DAY_FIELDS: tuple[str, ...] = engine.DAY_TYPES
"""Window rule fields, one per day type (weekday, saturday, sunday, holiday)."""

NO_CONTACT = "none"
"""How a window field says "no contact on this day type"."""

# A hyphen or an en dash between the times.
_WINDOW_RE = re.compile(r"^(\d{1,2}:\d{2})\s*[-\u2013]\s*(\d{1,2}:\d{2})$")


# --- Windows as text --------------------------------------------------------------------------


def windows_parse(text: str) -> list[tuple[int, int]]:
    """``"08:00-12:00, 13:00-21:00"`` -> [(480, 720), (780, 1260)]; ``"none"`` -> [].

    Raises ValueError with a message fit for a form: windows must lie inside the day, start
    before they end and not overlap.
    """
    value = (text or "").strip()
    if not value:
        raise ValueError('Write the allowed hours, e.g. "08:00-21:00", or "none" for no contact.')
    if value.lower() == NO_CONTACT:
        return []
    out: list[tuple[int, int]] = []
    for part in re.split(r"[,;]", value):
        m = _WINDOW_RE.match(part.strip())
        if not m:
            raise ValueError(f'"{part.strip()}" is not a window like 08:00-21:00.')
        try:
            start, end = engine.parse_hhmm(m.group(1)), engine.parse_hhmm(m.group(2))
        except engine.RuleError as exc:
            raise ValueError(f"{exc}.") from None
        if start >= 1440:
            raise ValueError(f"{m.group(1)} is not a time of day (00:00-23:59).")
        if start >= end:
            raise ValueError(f"{part.strip()}: the start must be before the end.")
        out.append((start, end))
    out.sort()
    for (_, e1), (s2, _) in pairwise(out):
        if s2 < e1:
            raise ValueError("Windows overlap; merge them into one.")
    return out


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def windows_normalize(text: str) -> str:
    """Canonical text of a window field (``8:00 - 21:00`` -> ``08:00-21:00``)."""
    wins = windows_parse(text)
    return ", ".join(f"{_hhmm(s)}-{_hhmm(e)}" for s, e in wins) if wins else NO_CONTACT


def _windows_pairs(text: str) -> list[list[str]]:
    return [[_hhmm(s), _hhmm(e)] for s, e in windows_parse(text)]


def _windows_text(windows: tuple[tuple[int, int], ...]) -> str:
    """An engine rule's windows of one day type (minutes) as a field's canonical text."""
    text = ", ".join(f"{_hhmm(s)}-{_hhmm(e)}" for s, e in windows)
    return windows_normalize(text) if windows else NO_CONTACT


# --- Rules ------------------------------------------------------------------------------------


def _channel_list(value: Any) -> list[str]:
    """Channels in the platform's order; ``"all"`` expands."""
    chosen = set(engine.CHANNELS) if value == "all" else set(value or ())
    return [c for c in engine.CHANNELS if c in chosen] + sorted(chosen - set(engine.CHANNELS))


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _texts_ordered(texts: Mapping[str, str], fallback_language: str) -> dict[str, str]:
    """Texts with the fallback language first (the engine falls back to the first text), the
    others by language code: PostgreSQL's jsonb does not keep key order, so order is made."""
    texts = dict(texts or {})
    first = fallback_language if fallback_language in texts else next(iter(sorted(texts)), "")
    ordered = {first: texts[first]} if first else {}
    ordered.update((lang, texts[lang]) for lang in sorted(texts) if lang != first)
    return ordered


def rule_dict(obj: Any, kind: str) -> dict[str, Any]:
    """A rule row (any object with the model's attributes) as a pack rule dict."""
    data: dict[str, Any] = {
        "code": obj.code,
        "kind": kind,
        "title": obj.title,
        "channels": _channel_list(obj.channels),
        "citation": {"text": obj.citation_text, "url": obj.citation_url},
        "valid_from": _iso(obj.valid_from),
        "valid_to": _iso(obj.valid_to),
        "when_flags": sorted(obj.when_flags or []),
        "fallback": bool(obj.fallback),
        "note": obj.note or "",
    }
    if kind == "window":
        data["windows"] = {t: _windows_pairs(getattr(obj, t)) for t in DAY_FIELDS}
    elif kind == "cap":
        data.update(
            max=obj.max_count,
            period=obj.period,
            days=obj.days or 0,
            counts=obj.counts,
            count_channels=_channel_list(obj.count_channels),
            scope=obj.scope,
            after_first_conversation=bool(obj.after_first_conversation),
        )
    elif kind == "quiet":
        data.update(
            days=obj.days,
            trigger=obj.trigger,
            trigger_channels=_channel_list(obj.trigger_channels),
            scope=obj.scope,
        )
    elif kind == "permission":
        data["mode"] = obj.mode
    elif kind == "disclosure":
        data.update(
            topic=obj.topic,
            when=obj.when,
            texts=_texts_ordered(obj.texts, obj.fallback_language),
        )
    return data


def rule_snapshot(obj: Any, kind: str) -> dict[str, Any]:
    """What audit rows and edit detection compare: the pack dict plus admin-only fields."""
    snap = rule_dict(obj, kind)
    snap["enabled"] = bool(obj.enabled)
    if kind == "disclosure":
        snap["texts"] = [[lang, text] for lang, text in snap["texts"].items()]  # order matters
    return snap


def rule_fields(data: Mapping[str, Any], *, region: str) -> tuple[str, dict[str, Any]]:
    """A pack rule dict -> (kind, model field values).

    Read from the engine rule ``packs.rule_from_dict`` builds (and validates), so the defaults
    of optional keys are the engine's, written once.
    """
    rule = packs.rule_from_dict(data, region=region)  # raises PackError naming the problem
    fields: dict[str, Any] = {
        "code": rule.code,
        "title": rule.title,
        "channels": _channel_list(rule.channels),
        "citation_text": rule.citation.text,
        "citation_url": rule.citation.url,
        "valid_from": rule.valid_from,
        "valid_to": rule.valid_to,
        "when_flags": sorted(rule.when_flags),
        "fallback": rule.fallback,
        "note": data.get("note") or "",
        "enabled": True,
    }
    if isinstance(rule, engine.WindowRule):
        fields.update(
            {t: _windows_text(wins) for t, wins in zip(DAY_FIELDS, rule.days, strict=True)}
        )
    elif isinstance(rule, engine.CapRule):
        fields.update(
            max_count=rule.max_count,
            period=rule.period,
            days=rule.days,
            counts=rule.counts,
            count_channels=_channel_list(rule.count_channels),
            scope=rule.scope,
            after_first_conversation=rule.after_first_conversation,
        )
    elif isinstance(rule, engine.QuietRule):
        fields.update(
            days=rule.days,
            trigger=rule.trigger,
            trigger_channels=_channel_list(rule.trigger_channels),
            scope=rule.scope,
        )
    elif isinstance(rule, engine.PermissionRule):
        fields["mode"] = rule.mode
    elif isinstance(rule, engine.DisclosureRule):
        fields.update(
            topic=rule.topic,
            when=rule.when,
            texts=dict(rule.texts),
            fallback_language=rule.texts[0][0],
        )
    return rule.kind, fields


def engine_rule(obj: Any, kind: str, *, region: str) -> engine.Rule:
    """The engine rule of a row (raises ``packs.PackError`` if the row is invalid)."""
    return packs.rule_from_dict(rule_dict(obj, kind), region=region)


# --- Regions ----------------------------------------------------------------------------------


def region_snapshot(
    obj: Any, *, parent_code: str | None, extra_dates: list[date] | list[str]
) -> dict[str, Any]:
    """A region row (and its extra holiday dates) in the pack's region format, without rules."""
    dates = sorted(d if isinstance(d, str) else d.isoformat() for d in extra_dates)
    holidays = None
    if obj.holiday_country or dates or obj.holiday_subdivision or obj.holiday_categories:
        holidays = {
            "country": obj.holiday_country or None,
            "subdivision": obj.holiday_subdivision or None,
            "categories": list(obj.holiday_categories or []),
            "extra_dates": dates,
        }
    return {
        "code": obj.code,
        "name": obj.name,
        "parent": parent_code,
        "time_zone": obj.time_zone,
        "holidays": holidays,
        "note": obj.note or "",
    }


def region_fields(data: Mapping[str, Any]) -> tuple[dict[str, Any], str | None, list[date]]:
    """A pack dict -> (region field values, parent code, extra holiday dates)."""
    spec = data.get("holidays") or {}
    fields = {
        "code": data["code"],
        "name": data.get("name") or data["code"],
        "time_zone": data.get("time_zone") or "UTC",
        "holiday_country": spec.get("country") or "",
        "holiday_subdivision": spec.get("subdivision") or "",
        "holiday_categories": list(spec.get("categories") or []),
        "note": data.get("note") or "",
    }
    extra = sorted(date.fromisoformat(d) for d in spec.get("extra_dates") or [])
    return fields, data.get("parent") or None, extra


def holiday_calendar_check(country: str, subdivision: str | None, categories: tuple) -> str:
    """'' if the ``holidays`` package knows this calendar (or none is named), else a message
    for the form or the pack loader."""
    if not country:
        return "A subdivision needs its country." if subdivision else ""
    try:
        packs.holiday_dates(
            packs.HolidaySpec(country=country, subdivision=subdivision, categories=categories),
            [date.today().year],
        )
    except (packs.PackError, NotImplementedError, ValueError, KeyError) as exc:
        return f"The holidays package has no such calendar: {exc}"
    return ""
