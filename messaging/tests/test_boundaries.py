"""Import boundaries: channel backends are private to messaging; messaging never imports the
recommender or the portal (scanned with ast, so an import anywhere in a module counts)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".venv", "node_modules", ".git", "staticfiles", "media", "outbox"}


def _python_files():
    for path in ROOT.rglob("*.py"):
        if not SKIP.intersection(path.relative_to(ROOT).parts):
            yield path


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")
                                                    ) in {"import_module", "import_string",
                                                          "__import__"}:  # fmt: skip
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(arg.value)
    return found


def _in_app(path: Path, app: str) -> bool:
    return path.relative_to(ROOT).parts[0] == app


def test_only_messaging_imports_channel_backends():
    offenders = [
        str(path.relative_to(ROOT))
        for path in _python_files()
        if not _in_app(path, "messaging")
        and any(
            name == "messaging.backends" or name.startswith("messaging.backends.")
            for name in _imports(path)
        )
    ]
    assert offenders == []


def test_the_scan_sees_backend_imports(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text(
        "from messaging.backends.sms import TwilioBackend\n"
        "import importlib\nimportlib.import_module('messaging.backends.email')\n"
    )
    names = _imports(sample)
    assert "messaging.backends.sms" in names and "messaging.backends.email" in names


def test_messaging_never_imports_the_recommender_or_the_portal():
    offenders = [
        str(path.relative_to(ROOT))
        for path in _python_files()
        if _in_app(path, "messaging")
        and any(name.split(".")[0] in {"recommender", "portal"} for name in _imports(path))
    ]
    assert offenders == []


PROJECT = {"accounts", "compliance", "messaging", "recommender", "portal", "collections_site"}
# Django's own hook: the app's checks and signal receivers load once the registry is ready.
LATE_IMPORTS_ALLOWED = {"messaging/apps.py"}


def _late_project_imports(path: Path) -> list[str]:
    """Project modules imported inside a function of `path` (such an import can hide a cycle)."""
    found = []
    for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found += [f"{fn.name}: {n}" for n in names if n.split(".")[0] in PROJECT]
    return found


def test_messaging_imports_project_modules_at_the_top_only():
    offenders = [
        f"{path.relative_to(ROOT)} {line}"
        for path in (ROOT / "messaging").rglob("*.py")
        if not {"tests", "migrations"}.intersection(path.relative_to(ROOT).parts)
        and str(path.relative_to(ROOT)) not in LATE_IMPORTS_ALLOWED
        for line in _late_project_imports(path)
    ]
    assert offenders == []


def test_the_scan_sees_an_import_inside_a_function(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    from messaging.previews import variant_previews\n")
    assert _late_project_imports(sample) == ["f: messaging.previews"]
