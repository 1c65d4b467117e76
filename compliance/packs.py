"""Shipped rule packs: load them, resolve a region's effective rules and holidays, run cases.

Django-free. ``compliance/packs/<code>.json`` holds one pack per region (format in
docs/compliance-engine.md); ``compliance/cases/<code>.jsonl`` holds test cases for them. The
``load_rule_packs`` management command seeds the database from the same JSON through
``pack_from_dict``/``rule_from_dict``; ``compliance_check`` and the test suite evaluate cases
through ``case_evaluate``. Database-backed code can build ``Pack`` objects from models and reuse
``effective_rules`` and ``holiday_predicate`` unchanged.

Resolution: a region's effective rules are its own, then each ancestor's (parent chain), then
the ``default`` pack's. Default rules are marked ``fallback`` and apply to a channel only where
the region chain has no rule of the same kind (and flag condition) for that channel, so a region
without rules of its own is never "allow everything".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from compliance.engine import (
    CHANNELS,
    FLAGS,
    CapRule,
    Citation,
    Contact,
    DisclosureRule,
    EffectiveRules,
    FlagRule,
    PermissionRule,
    QuietRule,
    Rule,
    RuleError,
    WindowRule,
    compile_rules,
    evaluate,
    parse_hhmm,
)

PACKS_DIR = Path(__file__).resolve().parent / "packs"
"""Where the shipped rule packs live."""

CASES_DIR = Path(__file__).resolve().parent / "cases"
"""Where the shipped test cases live (one JSONL file per region)."""

DEFAULT_CODE = "default"
"""Code of the pack that backs every region (conservative hours, calls need consent, ...)."""

_COMMON_KEYS = {
    "code",
    "kind",
    "title",
    "channels",
    "citation",
    "valid_from",
    "valid_to",
    "when_flags",
    "fallback",
    "note",
}
_KIND_KEYS: dict[str, set[str]] = {
    "window": {"windows"},
    "cap": {
        "max",
        "period",
        "days",
        "counts",
        "count_channels",
        "scope",
        "after_first_conversation",
    },
    "quiet": {"days", "trigger", "trigger_channels", "scope"},
    "flag": set(),
    "permission": {"mode"},
    "disclosure": {"topic", "texts", "when"},
}
_PACK_KEYS = {"code", "name", "parent", "time_zone", "holidays", "rules", "note"}


class PackError(ValueError):
    """A pack or case is malformed; the message names the pack/rule/field."""


@dataclass(frozen=True, slots=True)
class HolidaySpec:
    """Which public holidays a region observes: a ``holidays`` package calendar plus extras.

    ``categories`` are the package's holiday categories (e.g. ``public``, ``optional``);
    empty means the package default (public).
    """

    country: str | None
    subdivision: str | None = None
    categories: tuple[str, ...] = ()
    extra_dates: frozenset[date] = frozenset()


@dataclass(frozen=True, slots=True)
class Pack:
    """One region's rule pack as shipped (or as loaded from the database)."""

    code: str
    name: str
    parent: str | None
    time_zone: str
    holidays: HolidaySpec | None
    rules: tuple[Rule, ...]


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _date_or_none(value: Any, where: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise PackError(f"{where}: {value!r} is not an ISO date") from None


def _channels(value: Any, where: str) -> frozenset[str]:
    if value == "all":
        return frozenset(CHANNELS)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PackError(f"{where}: channels must be a list of channel names or 'all'")
    return frozenset(value)


def rule_from_dict(data: Mapping[str, Any], *, region: str) -> Rule:
    """Build one engine rule from its pack JSON object (see docs for the fields per kind)."""
    where = f"{region}:{data.get('code', '?')}"
    kind = data.get("kind")
    if kind not in _KIND_KEYS:
        raise PackError(f"{where}: kind must be one of {sorted(_KIND_KEYS)}")
    unknown = set(data) - _COMMON_KEYS - _KIND_KEYS[kind]
    if unknown:
        raise PackError(f"{where}: unknown keys {sorted(unknown)}")
    common = _common_fields(data, region=region, where=where)
    try:
        return _rule_of_kind(kind, data, common, where=where)
    except RuleError as exc:
        raise PackError(f"{region}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, PackError):
            raise
        raise PackError(f"{where}: {exc!r}") from None


def _common_fields(data: Mapping[str, Any], *, region: str, where: str) -> dict[str, Any]:
    """The fields every rule kind shares (``engine.Rule``), read from a pack object."""
    cit = data.get("citation") or {}
    common: dict[str, Any] = {
        "code": data.get("code", ""),
        "title": data.get("title", ""),
        "channels": _channels(data.get("channels"), where),
        "citation": Citation(text=cit.get("text", ""), url=cit.get("url", "")),
        "valid_from": _date_or_none(data.get("valid_from"), where),
        "valid_to": _date_or_none(data.get("valid_to"), where),
        "when_flags": frozenset(data.get("when_flags", ())),
        "fallback": bool(data.get("fallback", False)),
        "region": region,
    }
    if not common["title"]:
        raise PackError(f"{where}: a rule needs a title")
    return common


def _rule_of_kind(
    kind: str, data: Mapping[str, Any], common: dict[str, Any], *, where: str
) -> Rule:
    """The engine rule of ``kind`` from its pack object and the shared fields."""
    if kind == "window":
        wins = data.get("windows") or {}
        if set(wins) != {"weekday", "saturday", "sunday", "holiday"}:
            raise PackError(f"{where}: windows need weekday, saturday, sunday and holiday")
        days = tuple(
            tuple((parse_hhmm(s), parse_hhmm(e)) for s, e in wins[t])
            for t in ("weekday", "saturday", "sunday", "holiday")
        )
        return WindowRule(days=days, **common)  # type: ignore[arg-type]
    if kind == "cap":
        return CapRule(
            max_count=int(data["max"]),
            period=data["period"],
            days=int(data.get("days", 0)),
            counts=data.get("counts", "attempts"),
            count_channels=_channels(data.get("count_channels", []), where)
            if data.get("count_channels")
            else frozenset(),
            scope=data.get("scope", "debt"),
            after_first_conversation=bool(data.get("after_first_conversation", False)),
            **common,
        )
    if kind == "quiet":
        return QuietRule(
            days=int(data["days"]),
            trigger=data.get("trigger", "conversations"),
            trigger_channels=_channels(data.get("trigger_channels", ["call"]), where),
            scope=data.get("scope", "debt"),
            **common,
        )
    if kind == "flag":
        return FlagRule(**common)
    if kind == "permission":
        return PermissionRule(mode=data.get("mode", ""), **common)
    texts = data.get("texts")
    if not isinstance(texts, dict):
        raise PackError(f"{where}: texts must map language -> text")
    return DisclosureRule(
        topic=data.get("topic", ""),
        texts=tuple(texts.items()),
        when=data.get("when", "always"),
        **common,
    )


def pack_from_dict(data: Mapping[str, Any]) -> Pack:
    """Build a ``Pack`` from its JSON object, validating every rule."""
    if not isinstance(data, Mapping):
        raise PackError("a pack must be a JSON object")
    code = data.get("code")
    if not code or not isinstance(code, str):
        raise PackError("pack without a code")
    unknown = set(data) - _PACK_KEYS
    if unknown:
        raise PackError(f"{code}: unknown keys {sorted(unknown)}")
    spec = data.get("holidays")
    if spec is not None and not isinstance(spec, Mapping):
        raise PackError(f"{code}: holidays must be an object")
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list) or not all(isinstance(r, Mapping) for r in raw_rules):
        raise PackError(f"{code}: rules must be a list of objects")
    holidays = None
    if spec:
        holidays = HolidaySpec(
            country=spec.get("country"),
            subdivision=spec.get("subdivision"),
            categories=tuple(spec.get("categories", ())),
            extra_dates=frozenset(
                d
                for d in (_date_or_none(x, f"{code}:holidays") for x in spec.get("extra_dates", []))
                if d
            ),
        )
    rules = tuple(rule_from_dict(r, region=code) for r in raw_rules)
    codes = [r.code for r in rules]
    if len(codes) != len(set(codes)):
        raise PackError(f"{code}: duplicate rule codes")
    return Pack(
        code=code,
        name=data.get("name", code),
        parent=data.get("parent") or None,
        time_zone=data.get("time_zone", "UTC"),
        holidays=holidays,
        rules=rules,
    )


def packs_load(directory: Path | str = PACKS_DIR) -> dict[str, Pack]:
    """Every ``*.json`` pack in a directory, by region code (cached for the shipped packs)."""
    return dict(_packs_load_cached(str(Path(directory).resolve())))


@lru_cache(maxsize=8)
def _packs_load_cached(directory: str) -> tuple[tuple[str, Pack], ...]:
    return tuple((code, pack) for code, (_, pack) in packs_read(directory).items())


def packs_read(directory: Path | str) -> dict[str, tuple[dict[str, Any], Pack]]:
    """The packs of a directory by region code: each as its JSON object and as a ``Pack``.

    Raises ``PackError`` naming the file for anything wrong: no such directory, no pack in it,
    a file that is not JSON or not a valid pack, a region or a rule code defined twice. The one
    reader of pack files (``packs_load`` here, ``compliance.loading`` for the database).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise PackError(f"{directory}: not a directory of rule packs")
    out: dict[str, tuple[dict[str, Any], Pack]] = {}
    rule_files: dict[str, str] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            pack = pack_from_dict(data)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, PackError) as exc:
            raise PackError(f"{path.name}: {exc}") from None
        if pack.code in out:
            raise PackError(f"{path.name}: region {pack.code} defined twice")
        for rule in pack.rules:
            if rule.code in rule_files:
                raise PackError(f"{path.name}: rule {rule.code} is also in {rule_files[rule.code]}")
            rule_files[rule.code] = path.name
        out[pack.code] = (data, pack)
    if not out:
        raise PackError(f"{directory}: no *.json rule packs in it")
    return out


# --------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------


def region_resolve(code: str, packs: Mapping[str, Pack]) -> str:
    """The pack code to use for a region code.

    A region without its own pack uses its nearest known ISO parent (``US-TX`` -> ``US``,
    ``CA-AB`` -> ``CA``), and an unknown country uses ``default``.
    """
    candidate = code
    while candidate:
        if candidate in packs:
            return candidate
        candidate = candidate.rpartition("-")[0]
    return DEFAULT_CODE


def region_chain(code: str, packs: Mapping[str, Pack]) -> tuple[Pack, ...]:
    """The region's pack and its ancestors, nearest first, ``default`` last (once)."""
    chain: list[Pack] = []
    seen: set[str] = set()
    current: str | None = region_resolve(code, packs)
    while current:
        if current in seen:
            raise PackError(f"parent cycle at {current}")
        seen.add(current)
        pack = packs.get(current)
        if pack is None:
            raise PackError(f"unknown parent region {current}")
        chain.append(pack)
        current = pack.parent
    if DEFAULT_CODE not in seen and DEFAULT_CODE in packs:
        chain.append(packs[DEFAULT_CODE])
    return tuple(chain)


def effective_rules(code: str, packs: Mapping[str, Pack] | None = None) -> EffectiveRules:
    """Compiled effective rules of a region: own + ancestors' + default fallbacks.

    With ``packs=None`` the shipped packs are used and the result is cached.
    """
    if packs is None:
        return _shipped_effective_rules(code)
    rules = [r for pack in region_chain(code, packs) for r in pack.rules]
    return compile_rules(rules, region=code)


@lru_cache(maxsize=256)
def _shipped_effective_rules(code: str) -> EffectiveRules:
    return effective_rules(code, packs_load())


def holiday_spec_for(code: str, packs: Mapping[str, Pack] | None = None) -> HolidaySpec | None:
    """A region's holiday calendar: the ``holidays`` package calendar of the nearest pack in
    its chain that names a country, plus the extra dates of every pack in the chain."""
    packs = packs_load() if packs is None else packs
    specs = [p.holidays for p in region_chain(code, packs) if p.holidays is not None]
    if not specs:
        return None
    base = next((s for s in specs if s.country), None)
    extra = frozenset().union(*(s.extra_dates for s in specs))
    if base is None:
        return HolidaySpec(country=None, extra_dates=extra)
    return replace(base, extra_dates=extra)


def holiday_dates(spec: HolidaySpec | None, years: Iterable[int]) -> frozenset[date]:
    """Every public holiday of a calendar in the given years (observed days included)."""
    if spec is None:
        return frozenset()
    years = sorted(set(years))
    out: set[date] = {d for d in spec.extra_dates if d.year in years}
    if spec.country:
        # Imported on first use: a large package that reading packs and the engine never need.
        import holidays as holidays_pkg

        kwargs: dict[str, Any] = {"years": years}
        if spec.subdivision:
            kwargs["subdiv"] = spec.subdivision
        if spec.categories:
            kwargs["categories"] = spec.categories
        try:
            calendar = holidays_pkg.country_holidays(spec.country, **kwargs)
        except NotImplementedError as exc:
            raise PackError(f"holiday calendar {spec.country}/{spec.subdivision}: {exc}") from None
        out.update(calendar.keys())
    return frozenset(out)


def holiday_predicate(code: str, packs: Mapping[str, Pack] | None = None) -> Callable[[date], bool]:
    """A ``date -> bool`` for the engine's ``holidays`` argument, loading years lazily."""
    spec = holiday_spec_for(code, packs)
    by_year: dict[int, frozenset[date]] = {}

    def is_holiday(day: date) -> bool:
        dates = by_year.get(day.year)
        if dates is None:
            dates = by_year[day.year] = holiday_dates(spec, [day.year])
        return day in dates

    return is_holiday


@lru_cache(maxsize=256)
def _shipped_holiday_predicate(code: str) -> Callable[[date], bool]:
    return holiday_predicate(code, packs_load())


# --------------------------------------------------------------------------------------------
# Cases (the compliance_check contract)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    """One parsed line of a cases file."""

    id: str
    region: str
    channel: str
    local_dt: datetime
    history: tuple[Contact, ...]
    flags: frozenset[str]
    expected: str | None
    debt_id: str | None = None


def _local_time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise PackError(f"{where}: local_time must be a string like 2026-03-11T10:00")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise PackError(f"{where}: {value!r} is not an ISO local datetime") from None
    if dt.tzinfo is not None:
        raise PackError(f"{where}: local_time must be the debtor's wall clock, without offset")
    return dt


def case_parse(obj: Any) -> Case:
    """Validate one decoded JSON case; raise ``PackError`` naming the problem."""
    if not isinstance(obj, dict):
        raise PackError("a case must be a JSON object")
    case_id = obj.get("id")
    if not isinstance(case_id, str | int) or case_id == "":
        raise PackError("case without an id")
    where = f"case {case_id}"
    region = obj.get("region")
    if not isinstance(region, str) or not region:
        raise PackError(f"{where}: region missing")
    channel = obj.get("channel")
    if channel not in CHANNELS:
        raise PackError(f"{where}: channel must be one of {', '.join(CHANNELS)}")
    history = []
    raw_history = obj.get("history", [])
    if not isinstance(raw_history, list):
        raise PackError(f"{where}: history must be a list")
    for i, item in enumerate(raw_history):
        if not isinstance(item, dict):
            raise PackError(f"{where}: history[{i}] must be an object")
        try:
            history.append(
                Contact(
                    channel=item.get("channel"),
                    local_dt=_local_time(item.get("local_time"), f"{where} history[{i}]"),
                    outcome=item.get("outcome"),
                    debt_id=item.get("debt_id"),
                )
            )
        except PackError:
            raise
        except ValueError as exc:
            raise PackError(f"{where}: history[{i}]: {exc}") from None
    flags = obj.get("flags", [])
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise PackError(f"{where}: flags must be a list of strings")
    unknown = set(flags) - FLAGS
    if unknown:
        raise PackError(f"{where}: unknown flags: {', '.join(sorted(unknown))}")
    expected = obj.get("expected")
    if expected not in (None, "allow", "block"):
        raise PackError(f"{where}: expected must be allow or block")
    return Case(
        id=str(case_id),
        region=region,
        channel=channel,
        local_dt=_local_time(obj.get("local_time"), where),
        history=tuple(history),
        flags=frozenset(flags),
        expected=expected,
        debt_id=obj.get("debt_id"),
    )


def case_decide(
    case: Case, rules: EffectiveRules, holidays: Callable[[date], bool]
) -> dict[str, Any]:
    """The decision line of one case: ``{"id", "decision", "reasons", "next_allowed_at"}``."""
    decision = evaluate(
        rules,
        case.channel,
        case.local_dt,
        case.history,
        case.flags,
        holidays,
        debt_id=case.debt_id,
    )
    return {"id": case.id, **decision.as_dict()}


def case_evaluate(case: Case, packs: Mapping[str, Pack] | None = None) -> dict[str, Any]:
    """Evaluate a case against packs (shipped ones by default): the runner's output line.

    Returns ``{"id", "decision", "reasons", "next_allowed_at"}``, plus ``expected`` and ``ok``
    when the case states an expectation.
    """
    if packs is None:
        rules = _shipped_effective_rules(case.region)
        holidays = _shipped_holiday_predicate(case.region)
    else:
        rules = effective_rules(case.region, packs)
        holidays = holiday_predicate(case.region, packs)
    line = case_decide(case, rules, holidays)
    if case.expected is not None:
        line["expected"] = case.expected
        line["ok"] = line["decision"] == case.expected
    return line


def cases_read(path: Path | str) -> list[tuple[int, Case | PackError]]:
    """Parse a JSONL cases file: (line number, case or the error for that line); blanks skipped."""
    return cases_parse(Path(path).read_text(encoding="utf-8"))


def cases_parse(text: str) -> list[tuple[int, Case | PackError]]:
    """``cases_read`` for text already in memory (e.g. a file uploaded in the admin)."""
    out: list[tuple[int, Case | PackError]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            out.append((number, case_parse(json.loads(raw))))
        except json.JSONDecodeError as exc:
            out.append((number, PackError(f"line {number}: invalid JSON: {exc.msg}")))
        except PackError as exc:
            out.append((number, PackError(f"line {number}: {exc}")))
    return out
