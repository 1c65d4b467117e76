"""Which way imports run between the apps, which modules stay Django-free, and how long a
product function or module may grow (the last section).

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
`messaging/tests/test_boundaries.py`. The same rules are import-linter contracts in
pyproject.toml (`make lint`); the tests below keep the two in step. The cores' own tests also
run without Django (`DJANGO_FREE_TESTS` in the Makefile), checked here too.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
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


def _framework_imports(*modules: str) -> list[str]:
    """Framework imports reachable from `modules` through project modules (the packages whose
    `__init__` runs on import included)."""
    seen: set[str] = set()
    todo = list(modules)
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


def _with_submodules(module: str) -> list[str]:
    """`module` and, when it is a package, every module inside it: a submodule its `__init__`
    does not import is part of the core all the same."""
    package = ROOT.joinpath(*module.split("."))
    if not (package / "__init__.py").is_file():
        return [module]
    inside = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in package.rglob("*.py")
    }
    return sorted(inside)


@pytest.mark.parametrize("module", [m for core in DJANGO_FREE for m in _with_submodules(core)])
def test_a_django_free_core_reaches_no_framework(module):
    assert _file_of(module) is not None, f"{module} moved: update DJANGO_FREE"
    assert _framework_imports(module) == []


def test_a_django_free_package_is_scanned_module_by_module():
    # A submodule the package's __init__ does not import is scanned too.
    modules = _with_submodules("recommender.learning")
    assert "recommender.learning.selection" in modules
    assert "recommender.learning.estimates" in modules


def test_the_scan_covers_every_module_of_a_core_package():
    assert "compliance.engine.evaluation" in _with_submodules("compliance.engine")
    assert _with_submodules("compliance.packs") == ["compliance.packs"]


def test_the_scan_follows_project_imports_to_django():
    # accounts.models is Django-bound; a core importing it would be caught through it.
    assert _framework_imports("accounts.models")


# --- The same rules as import-linter contracts (pyproject.toml [tool.importlinter]) -----------
# `make lint` runs `lint-imports`; these tests keep the contracts in step with the scans above
# and show that each contract breaks on a violation.


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    command = "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"
    return subprocess.run(
        [sys.executable, "-c", command, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_contracts_name_the_same_layers_cores_and_frameworks():
    contracts = _contracts()
    layers = [sorted(layer.replace(" ", "").split("|")) for layer in contracts["layers"]["layers"]]
    by_rank = sorted(LAYER, key=lambda app: (-LAYER[app], app))
    expected = [[app for app in by_rank if LAYER[app] == rank] for rank in sorted(
        set(LAYER.values()), reverse=True)]  # fmt: skip
    assert layers == expected
    assert contracts["django-free"]["source_modules"] == DJANGO_FREE
    assert set(contracts["django-free"]["forbidden_modules"]) == FRAMEWORKS
    assert contracts["channel-backends"]["forbidden_modules"] == ["messaging.backends"]
    assert set(contracts["channel-backends"]["source_modules"]) == set(LAYER) - {"messaging"}


def test_the_project_keeps_its_import_contracts():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_contract_breaks_on_a_violation(tmp_path):
    # A project of the same packages, each rule broken: an upward import, the recommender
    # importing the portal, a core reaching Django through another module, and the portal
    # importing a channel backend.
    files = {f"{app}/__init__.py": "" for app in LAYER}
    files.update({f"{module.replace('.', '/')}.py": "" for module in DJANGO_FREE})
    files["recommender/__init__.py"] = files["portal/__init__.py"] = ""
    files["compliance/services.py"] = "import messaging.services\n"
    files["messaging/services.py"] = "import messaging.backends\n"
    files["messaging/backends.py"] = ""
    files["accounts/models.py"] = "import django.db\n"
    files["accounts/money.py"] = "import accounts.models\n"
    files["portal/views.py"] = "from messaging.backends import x\n"
    files["recommender/policy.py"] = "import portal.views\n"
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "3 broken" in result.stdout, result.stdout
    assert "compliance.services -> messaging.services" in result.stdout
    assert "accounts.money -> accounts.models" in result.stdout
    assert "portal.views -> messaging.backends" in result.stdout
    assert "recommender.policy -> portal.views" in result.stdout


# --- The Django-free cores' tests also run without Django (`make test`) ----------------------


def _django_free_test_patterns() -> list[str]:
    """`DJANGO_FREE_TESTS` in the Makefile: the test files `make test` runs with -p no:django."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("DJANGO_FREE_TESTS"))
    return line.partition(":=")[2].split()


def _test_imports(path: Path) -> set[str]:
    package = _package(path) if path.is_relative_to(ROOT) else ""
    return _imports(path.read_text(encoding="utf-8"), package=package)


def _reaches_a_framework(path: Path) -> list[str]:
    names = _test_imports(path)
    found = [name for name in names if name.split(".")[0] in FRAMEWORKS]
    # One walk from all of the file's project imports (a walk per name would repeat itself).
    found += _framework_imports(*(name for name in names if name.split(".")[0] in LAYER))
    return sorted(set(found))


def _tests_a_core(path: Path) -> bool:
    names = _test_imports(path)
    return any(
        name == core or name.startswith(f"{core}.") for name in names for core in DJANGO_FREE
    )


def test_the_tests_run_without_django_reach_no_framework():
    patterns = _django_free_test_patterns()
    for pattern in patterns:
        assert list(ROOT.glob(pattern)), f"{pattern} matches no test file: update the Makefile"
    for path in sorted({path for pattern in patterns for path in ROOT.glob(pattern)}):
        assert _reaches_a_framework(path) == [], path.relative_to(ROOT)


def test_every_django_free_test_file_is_also_run_without_django():
    listed = {path for pattern in _django_free_test_patterns() for path in ROOT.glob(pattern)}
    missing = [
        str(path.relative_to(ROOT))
        for path in sorted(ROOT.glob("*/tests/test_*.py"))
        if _tests_a_core(path) and not _reaches_a_framework(path) and path not in listed
    ]
    assert missing == [], "add them to DJANGO_FREE_TESTS in the Makefile"


def test_the_scan_sees_a_test_file_reaching_django(tmp_path):
    sample = tmp_path / "test_x.py"
    sample.write_text("from accounts import money\nfrom accounts.tests.factories import row\n")
    assert _tests_a_core(sample)
    assert _reaches_a_framework(sample)  # the factories import Django's models


# --- Size: functions and modules that fit in one sitting ---------------------------------------
#
# A product function over `FUNCTION_LINES` lines is split into named steps, or its docstring
# says why it stays whole in a sentence containing "stays whole" (CONTRIBUTING.md, "House
# conventions"). A product module over `MODULE_LINES` lines is listed, with its reason, in
# docs/architecture.md's section "Modules over 600 lines".

PRODUCT = ("accounts", "compliance", "messaging", "portal", "recommender", "collections_site")
FUNCTION_LINES = 60
MODULE_LINES = 600
WHOLE = "stays whole"
LONG_MODULES_SECTION = "### Modules over 600 lines"


def _product_files() -> list[Path]:
    files = []
    for app in PRODUCT:
        for path in sorted((ROOT / app).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if "tests" in parts or "migrations" in parts or path.name.startswith("test_"):
                continue
            files.append(path)
    return files


def _long_functions(source: str, where: str) -> list[str]:
    """`where:name (n lines)` of each function over `FUNCTION_LINES` whose docstring does not
    say why it stays whole."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            if length > FUNCTION_LINES and WHOLE not in (ast.get_docstring(node) or ""):
                found.append(f"{where}:{node.name} ({length} lines)")
    return found


def _listed_long_modules() -> dict[str, str]:
    """The modules docs/architecture.md lets grow past `MODULE_LINES`, with their reasons: the
    bullets ``- `path`: reason`` of its section `LONG_MODULES_SECTION`."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert LONG_MODULES_SECTION in text, f"docs/architecture.md lost {LONG_MODULES_SECTION!r}"
    section = text.split(LONG_MODULES_SECTION, 1)[1].split("\n#", 1)[0]
    listed = {}
    for line in section.splitlines():
        if line.startswith("- `") and "`: " in line:
            path, reason = line[3:].split("`: ", 1)
            listed[path] = reason.strip()
    return listed


def test_no_product_function_is_long_without_saying_why():
    long = []
    for path in _product_files():
        where = str(path.relative_to(ROOT))
        long += _long_functions(path.read_text(encoding="utf-8"), where)
    assert long == [], f"split these into named steps, or say in the docstring why each {WHOLE!r}"


def test_no_product_module_is_long_unless_listed_with_a_reason():
    listed = _listed_long_modules()
    assert all(listed.values()), "each long module listed needs its reason"
    long = {
        str(path.relative_to(ROOT)): n
        for path in _product_files()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MODULE_LINES
    }
    assert sorted(set(long) - set(listed)) == [], (
        f"split these modules, or list them with a reason under {LONG_MODULES_SECTION!r} in "
        "docs/architecture.md"
    )


def test_the_size_scan_sees_a_long_function_unless_it_says_why():
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES))
    assert _long_functions(f"def f():\n{body}\n", "m.py") == ["m.py:f (61 lines)"]
    assert _long_functions(f"def f():\n{body[:-12]}\n", "m.py") == []
    whole = f'def f():\n    """Why: it {WHOLE}, the steps share one lock."""\n{body}\n'
    assert _long_functions(whole, "m.py") == []
    method = f"class C:\n    async def g(self):\n{body.replace('    ', '        ')}\n"
    assert _long_functions(method, "m.py") == ["m.py:g (61 lines)"]
