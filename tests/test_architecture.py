"""Which way imports run between the apps, and which modules stay Django-free.

Layers, lowest first: `accounts` <- `compliance` <- `messaging` <- `recommender`, `portal`
<- `collections_site` (the project package: settings, URLs, parts that read across apps).
An app may import its own code and any lower layer, never a higher one; `recommender` and
`portal` do not import each other, and no app imports the project package. Everything may
use `accounts`.

The Django-free cores take plain values and return plain values, so they are testable without
a database and reusable offline; none of them may reach Django, Wagtail or a Django-bound
module, even through another project module.

Scanned with `ast`, so an import anywhere in a file counts (inside a function, or by
`import_module("...")`). Channel backends being private to `messaging` is pinned in
`messaging/tests/test_boundaries.py`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYER = {
    "accounts": 0,
    "compliance": 1,
    "messaging": 2,
    "recommender": 3,
    "portal": 3,
    "collections_site": 4,
}

DJANGO_FREE = [
    "compliance.engine",
    "compliance.packs",
    "recommender.learning",
    "recommender.evaluation",
    "messaging.rendering",
    "accounts.regions",
    "accounts.money",
]
FRAMEWORKS = {"django", "wagtail", "rest_framework", "django_q", "modelcluster", "taggit"}


def _imports(source: str, *, package: str = "") -> set[str]:
    """Absolute names of every module `source` imports (relative imports resolved against
    `package`, the dotted name of the package the file is in, or is the `__init__` of)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            if prefix:
                found.add(prefix)
                found.update(f"{prefix}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in {"import_module", "import_string", "__import__"}:
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found.add(arg.value)
    return found


def _package(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).parent.parts)


def _app_files(app: str):
    yield from (ROOT / app).rglob("*.py")


def _upward_imports(app: str, files) -> list[str]:
    offenders = []
    for path in files:
        inside = path.is_relative_to(ROOT)
        package = _package(path) if inside else app
        for name in _imports(path.read_text(encoding="utf-8"), package=package):
            other = name.split(".")[0]
            if other in LAYER and other != app and LAYER[other] >= LAYER[app]:
                where = path.relative_to(ROOT) if inside else path.name
                offenders.append(f"{where} imports {name}")
    return sorted(set(offenders))


@pytest.mark.parametrize("app", sorted(LAYER))
def test_an_app_imports_only_lower_layers(app):
    assert _upward_imports(app, _app_files(app)) == []


def test_the_scan_sees_an_upward_import(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text(
        "def f():\n    from messaging.services import message_send\n"
        "import importlib\nimportlib.import_module('portal.services')\n"
    )
    found = _upward_imports("compliance", [sample])
    assert any("messaging.services" in line for line in found)
    assert any("portal.services" in line for line in found)
    assert _upward_imports("portal", [sample]) == []


def _file_of(module: str) -> Path | None:
    path = ROOT.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _framework_imports(module: str) -> list[str]:
    """Framework imports reachable from `module` through project modules (the packages whose
    `__init__` runs on import included)."""
    seen: set[str] = set()
    todo = [module]
    found = []
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            current = ".".join(parts[:i])
            if current in seen:
                continue
            seen.add(current)
            path = _file_of(current)
            if path is None:
                continue
            package = current if path.name == "__init__.py" else current.rpartition(".")[0]
            for imported in _imports(path.read_text(encoding="utf-8"), package=package):
                top = imported.split(".")[0]
                if top in FRAMEWORKS:
                    found.append(f"{current} imports {imported}")
                elif top in LAYER:
                    todo.append(imported)
    return sorted(set(found))


def _modules_of(module: str) -> list[str]:
    """`module`, and every module inside it when it is a package (imported or not)."""
    path = _file_of(module)
    if path is None or path.name != "__init__.py":
        return [module]
    inside = (p.relative_to(ROOT).with_suffix("").parts for p in path.parent.rglob("*.py"))
    return [module, *sorted(".".join(parts) for parts in inside if parts[-1] != "__init__")]


@pytest.mark.parametrize("module", DJANGO_FREE)
def test_a_django_free_core_reaches_no_framework(module):
    assert _file_of(module) is not None, f"{module} moved: update DJANGO_FREE"
    for name in _modules_of(module):
        assert _framework_imports(name) == [], name


def test_a_django_free_package_is_scanned_module_by_module():
    # A submodule the package's __init__ does not import is scanned too.
    modules = _modules_of("recommender.learning")
    assert "recommender.learning.selection" in modules
    assert "recommender.learning.estimates" in modules


def test_the_scan_follows_project_imports_to_django():
    # accounts.models is Django-bound; a core importing it would be caught through it.
    assert _framework_imports("accounts.models")
