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
