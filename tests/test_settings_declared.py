"""Every setting the product reads is declared: in Django's defaults or in
`collections_site/settings/base.py`, with its default and a comment there, and read as
`settings.NAME`, never with a default of its own scattered in code (`getattr(settings, "X",
default)` would hide a typo and let two places disagree on the default).

The recommender's `RECOMMENDER_*` settings are read through `recommender.selectors`; the scan
covers the other apps and the project package.
"""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import global_settings

from collections_site.settings import base

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ["accounts", "compliance", "messaging", "portal", "collections_site"]


def _settings_reads(source: str) -> tuple[set[str], list[str]]:
    """The `settings.NAME` names `source` reads, and its `getattr(settings, ...)` calls that
    give a default of their own."""
    names: set[str] = set()
    defaulted = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "settings"
            and node.attr.isupper()
        ):
            names.add(node.attr)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) == 3
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id == "settings"
        ):
            defaulted.append(ast.unparse(node))
    return names, defaulted


def _product_files():
    for app in SCANNED:
        for path in sorted((ROOT / app).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if "tests" not in parts and "settings" not in parts:
                yield path


def test_the_product_reads_settings_without_defaults_of_its_own():
    found = []
    for path in _product_files():
        _names, defaulted = _settings_reads(path.read_text(encoding="utf-8"))
        found += [f"{path.relative_to(ROOT)}: {call}" for call in defaulted]
    assert found == [], "declare the setting in collections_site/settings/base.py"


def test_every_setting_the_product_reads_is_declared():
    declared = set(dir(global_settings)) | set(vars(base))
    undeclared = []
    for path in _product_files():
        names, _defaulted = _settings_reads(path.read_text(encoding="utf-8"))
        undeclared += [f"{path.relative_to(ROOT)}: {name}" for name in sorted(names - declared)]
    assert undeclared == []


def test_the_scan_sees_reads_and_defaults():
    names, defaulted = _settings_reads(
        "x = settings.PORTAL_GATEWAY\ny = getattr(settings, 'NOPE', 3)\nz = settings.configure\n"
    )
    assert names == {"PORTAL_GATEWAY"}
    assert defaulted == ["getattr(settings, 'NOPE', 3)"]


def test_every_setting_the_recommender_selectors_read_is_declared():
    """`recommender.selectors` reads the `RECOMMENDER_*` settings (the uplift report's
    `RECOMMENDER_UPLIFT_*` among them)."""
    path = ROOT / "recommender" / "selectors.py"
    names, defaulted = _settings_reads(path.read_text(encoding="utf-8"))
    declared = set(dir(global_settings)) | set(vars(base))
    assert {"RECOMMENDER_UPLIFT_MIN_DETECTABLE", "RECOMMENDER_UPLIFT_BASELINE_RATE"} <= names
    assert sorted(names - declared) == [] and defaulted == []
