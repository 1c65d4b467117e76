"""Load the shipped rule packs (``compliance/packs/*.json``) into the database, idempotently.

Used by migration ``0002_load_shipped_packs`` (with its historical models) and by
``manage.py load_rule_packs``. Each region and rule row remembers the pack data it was last
loaded from (``shipped``), so the loader can tell an admin's edit from an old shipped version:

- a row that matches the pack is *kept*;
- a row unchanged since it was loaded is *updated* to the new pack data;
- a row an admin edited (or a shipped rule an admin deleted) is *kept* and reported, unless
  ``force``, which overwrites it (and re-creates a deleted one);
- a shipped rule that has left its pack is *removed* if nobody edited it.

Every change writes a ``RuleChange`` row and bumps the rules version in the same transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from django.apps import apps as global_apps
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone as dj_tz

from compliance import packs
from compliance.models import validate_region_code, validate_time_zone
from compliance.rules import (
    holiday_calendar_check,
    region_fields,
    region_snapshot,
    rule_fields,
    rule_snapshot,
)
from compliance.selectors import rules_cache_clear

SYSTEM_PREFIX = "system:"
"""Actors of automatic changes; a deletion by anyone else is an admin's decision to respect."""

_KINDS = ("window", "cap", "quiet", "flag", "permission", "disclosure")
_MODEL_NAMES = {
    "window": "WindowRule",
    "cap": "CapRule",
    "quiet": "QuietRule",
    "flag": "FlagRule",
    "permission": "PermissionRule",
    "disclosure": "DisclosureRule",
}


@dataclass
class LoadReport:
    """What a load did; codes are region codes and rule codes."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    kept_edited: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"{len(self.created)} created, {len(self.updated)} updated, {len(self.kept)} kept "
            f"({len(self.kept_edited)} of them edited by an admin"
        )
        text += f"), {len(self.removed)} removed" if self.removed else ")"
        return text


class _Models:
    """The compliance models from an app registry (the migration's historical one or live)."""

    def __init__(self, apps: Any) -> None:
        get = apps.get_model
        self.Region = get("compliance", "Region")
        self.RegionHoliday = get("compliance", "RegionHoliday")
        self.RuleChange = get("compliance", "RuleChange")
        self.RuleSetVersion = get("compliance", "RuleSetVersion")
        self.rules = {kind: get("compliance", _MODEL_NAMES[kind]) for kind in _KINDS}


def changes_record(
    changes: Iterable[Mapping[str, Any]], *, actor: str, user_id: int | None = None, apps=None
) -> int:
    """Write audit rows for region/rule changes and bump the rules version (one transaction).

    Each change: ``action`` (created/changed/deleted), ``kind``, ``code``, ``region_code``,
    ``before``, ``after``. Returns how many rows were written.
    """
    models = _Models(apps or global_apps)
    now = dj_tz.now()
    rows = [
        models.RuleChange(at=now, user_id=user_id, actor=actor[:100], **change)
        for change in changes
    ]
    if not rows:
        return 0
    with transaction.atomic():
        models.RuleChange.objects.bulk_create(rows)
        models.RuleSetVersion.objects.update_or_create(
            pk=1, defaults={"token": uuid.uuid4().hex, "changed_at": now}
        )
    rules_cache_clear()
    return len(rows)


def _packs_ordered(directory: Path | str) -> list[dict[str, Any]]:
    """The pack JSON objects of a directory, validated, parents before children."""
    read = packs.packs_read(directory)  # raises PackError naming the file
    for data, _ in read.values():
        _region_check(data)

    def depth(code: str | None) -> int:
        n = 0
        while code and code in read and n < 10:
            code, n = read[code][1].parent, n + 1
        return n

    return [data for code, (data, _) in sorted(read.items(), key=lambda i: (depth(i[0]), i[0]))]


def _region_check(data: Mapping[str, Any]) -> None:
    """The checks the admin runs on a region's own fields, for a pack's region."""
    fields, _, _ = region_fields(data)
    problems: list[str] = []
    for name, validate in (("code", validate_region_code), ("time_zone", validate_time_zone)):
        try:
            validate(fields[name])
        except ValidationError as exc:
            problems += [f"{name}: {m}" for m in exc.messages]
    calendar = holiday_calendar_check(
        fields["holiday_country"],
        fields["holiday_subdivision"] or None,
        tuple(fields["holiday_categories"]),
    )
    if calendar:
        problems.append(f"holidays: {calendar}")
    if problems:
        raise packs.PackError(f"{fields['code']}: {' '.join(problems)}")


def rule_packs_load(
    *,
    directory: Path | str = packs.PACKS_DIR,
    force: bool = False,
    actor: str = SYSTEM_PREFIX + "load_rule_packs",
    apps=None,
) -> LoadReport:
    """Load every pack of ``directory`` into the database; see the module docstring."""
    models = _Models(apps or global_apps)
    pack_dicts = _packs_ordered(directory)
    report = LoadReport()
    changes: list[dict[str, Any]] = []
    now = dj_tz.now()
    with transaction.atomic():
        deleted = _deleted_by_admin(models)
        regions = {r.code: r for r in models.Region.objects.select_related("parent")}
        extras: dict[int, list[str]] = defaultdict(list)
        for region_id, day in models.RegionHoliday.objects.values_list("region_id", "date"):
            extras[region_id].append(day.isoformat())

        for data in pack_dicts:
            _region_load(models, data, regions, extras, deleted, force, now, report, changes)

        loaded_regions = {d["code"] for d in pack_dicts if d["code"] in regions}
        for kind in _KINDS:
            model = models.rules[kind]
            rows = {r.code: r for r in model.objects.select_related("region")}
            wanted: set[str] = set()
            for data in pack_dicts:
                region = regions.get(data["code"])
                if region is None:  # an admin deleted the region: leave its rules alone
                    continue
                for position, rule in enumerate(data.get("rules", [])):
                    if rule["kind"] != kind:
                        continue
                    wanted.add(rule["code"])
                    _rule_load(
                        model, kind, rule, region, position, rows, deleted, force, now,
                        report, changes,
                    )  # fmt: skip
            for code, row in rows.items():
                if code in wanted or row.shipped is None:
                    continue
                if row.region.code not in loaded_regions:
                    continue
                if rule_snapshot(row, kind) == row.shipped or force:
                    changes.append(_change("deleted", kind, code, row.region.code, row, None))
                    row.delete()
                    report.removed.append(code)
                else:
                    report.kept.append(code)
                    report.kept_edited.append(code)
        changes_record(changes, actor=actor, apps=apps)
    return report


def _deleted_by_admin(models: _Models) -> set[tuple[str, str]]:
    """(kind, code) whose latest audit row is a deletion by a person."""
    latest: dict[tuple[str, str], tuple[str, str]] = {}
    for kind, code, action, actor in models.RuleChange.objects.order_by("at", "id").values_list(
        "kind", "code", "action", "actor"
    ):
        latest[(kind, code)] = (action, actor)
    return {
        key
        for key, (action, actor) in latest.items()
        if action == "deleted" and not actor.startswith(SYSTEM_PREFIX)
    }


def _change(
    action: str, kind: str, code: str, region_code: str, before: Any, after: Any
) -> dict[str, Any]:
    return {
        "action": action,
        "kind": kind,
        "code": code,
        "region_code": region_code,
        "before": rule_snapshot(before, kind) if before is not None else None,
        "after": after,
    }


def _region_load(models, data, regions, extras, deleted, force, now, report, changes) -> None:
    fields, parent_code, extra = region_fields(data)
    code = fields["code"]
    if parent_code and parent_code not in regions:
        raise packs.PackError(f"{code}: parent region {parent_code} is not in the database")
    new = region_snapshot(SimpleNamespace(**fields), parent_code=parent_code, extra_dates=extra)
    row = regions.get(code)
    if row is None:
        if ("region", code) in deleted and not force:
            report.kept.append(code)
            report.kept_edited.append(code)
            return
        row = models.Region.objects.create(
            **fields, parent=regions.get(parent_code), shipped=new, created_at=now, updated_at=now
        )
        models.RegionHoliday.objects.bulk_create(
            [models.RegionHoliday(region=row, date=d) for d in extra]
        )
        regions[code] = row
        report.created.append(code)
        changes.append(_region_change("created", code, None, new))
        return
    current = region_snapshot(
        row, parent_code=row.parent.code if row.parent_id else None, extra_dates=extras[row.pk]
    )
    if current == new:
        if row.shipped != new:
            row.shipped = new
            row.save(update_fields=["shipped"])
        report.kept.append(code)
        return
    if current != row.shipped and not force:
        report.kept.append(code)
        report.kept_edited.append(code)
        return
    for name, value in fields.items():
        setattr(row, name, value)
    row.parent = regions.get(parent_code)
    row.shipped = new
    row.updated_at = now
    row.save()
    models.RegionHoliday.objects.filter(region=row).delete()
    models.RegionHoliday.objects.bulk_create(
        [models.RegionHoliday(region=row, date=d) for d in extra]
    )
    report.updated.append(code)
    changes.append(_region_change("changed", code, current, new))


def _region_change(action: str, code: str, before: Any, after: Any) -> dict[str, Any]:
    return {
        "action": action,
        "kind": "region",
        "code": code,
        "region_code": code,
        "before": before,
        "after": after,
    }


def _rule_load(
    model, kind, data, region, position, rows, deleted, force, now, report, changes
) -> None:
    _, fields = rule_fields(data, region=region.code)
    code = fields["code"]
    new = rule_snapshot(SimpleNamespace(**fields), kind)
    row = rows.get(code)
    if row is None:
        if (kind, code) in deleted and not force:
            report.kept.append(code)
            report.kept_edited.append(code)
            return
        model.objects.create(
            **fields, region=region, position=position, shipped=new, created_at=now, updated_at=now
        )
        report.created.append(code)
        changes.append(_change("created", kind, code, region.code, None, new))
        return
    current = rule_snapshot(row, kind)
    same_place = row.region_id == region.pk
    if current == new and same_place:
        if row.shipped != new or row.position != position:
            row.shipped, row.position = new, position
            row.save(update_fields=["shipped", "position"])
        report.kept.append(code)
        return
    if (current != row.shipped or not same_place) and not force:
        report.kept.append(code)
        report.kept_edited.append(code)
        return
    for name, value in fields.items():
        setattr(row, name, value)
    row.region, row.position, row.shipped, row.updated_at = region, position, new, now
    row.save()
    report.updated.append(code)
    changes.append(_change("changed", kind, code, region.code, None, new) | {"before": current})
