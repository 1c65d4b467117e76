"""Run rule test cases (the ``compliance_check`` JSONL format) against the database rules.

Shared by ``manage.py compliance_check`` and the Region admin's "Run a cases file" page.
Parsing is ``packs.cases_read``/``cases_parse`` (the same as for the JSON packs); evaluation
uses the rules in the database (``selectors.ruleset_current``), so officers test what they
edited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from compliance import packs
from compliance.selectors import RuleSet, ruleset_current


@dataclass
class CasesRun:
    """The outcome of a run: one entry per non-blank line, in file order.

    Each entry has ``line`` and ``output`` (what the command prints: the decision line, or
    ``{"line", "error"}`` for a malformed line); cases with an expectation add ``expected``
    and ``ok``.
    """

    lines: list[dict[str, Any]] = field(default_factory=list)
    passed: int = 0
    failed: int = 0
    malformed: int = 0
    with_expectation: int = 0


def case_decide(case: packs.Case, ruleset: RuleSet | None = None) -> dict[str, Any]:
    """The decision line of one case: ``{"id", "decision", "reasons", "next_allowed_at"}``."""
    rs = ruleset or ruleset_current()
    return packs.case_decide(case, rs.rules(case.region), rs.holidays(case.region))


def cases_run(
    parsed: Iterable[tuple[int, packs.Case | packs.PackError]], ruleset: RuleSet | None = None
) -> CasesRun:
    """Evaluate parsed lines (``packs.cases_read``) and count passes, failures, bad lines."""
    rs = ruleset or ruleset_current()
    run = CasesRun()
    for number, item in parsed:
        if isinstance(item, packs.Case):
            try:
                output = case_decide(item, rs)
            except (packs.PackError, ValueError) as exc:  # e.g. a region with a broken chain
                item = packs.PackError(f"line {number}: {exc}")
        if isinstance(item, packs.PackError):
            run.malformed += 1
            error = {"line": number, "error": str(item)}
            run.lines.append({"line": number, "output": error, "expected": None, "ok": None})
            continue
        entry: dict[str, Any] = {"line": number, "output": output, "expected": None, "ok": None}
        if item.expected is not None:
            run.with_expectation += 1
            ok = output["decision"] == item.expected
            entry.update(expected=item.expected, ok=ok)
            if ok:
                run.passed += 1
            else:
                run.failed += 1
        run.lines.append(entry)
    return run
