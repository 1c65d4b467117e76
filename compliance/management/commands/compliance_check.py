"""``manage.py compliance_check --cases FILE.jsonl``: run rule test cases against the database.

The contract other tools rely on (docs/compliance.md): one JSON line per case on
stdout, ``{"id", "decision": "allow"|"block", "reasons": [...], "next_allowed_at"}``; a
malformed line prints ``{"line": N, "error": "..."}`` and the run goes on; if any case had
``expected``, a last line ``N passed, M failed``. Exit status 1 if a case failed or a line was
malformed, else 0. Cases are evaluated against the rules in the database (what the admin
edits), not the JSON packs; failing cases are also named on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance import packs
from compliance.cases import cases_run


class Command(BaseCommand):
    help = "Evaluate a JSONL file of compliance cases against the rules in the database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cases", required=True, help="A .jsonl file, one case per line.")

    def handle(self, *args, **options) -> None:
        path = Path(options["cases"])
        try:
            parsed = packs.cases_read(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        run = cases_run(parsed)
        for item in run.lines:
            self.stdout.write(json.dumps(item["output"], ensure_ascii=False))
            if item.get("ok") is False:
                self.stderr.write(
                    f"FAIL {item['output']['id']}: expected {item['expected']}, "
                    f"got {item['output']['decision']}"
                )
        if run.with_expectation:
            self.stdout.write(f"{run.passed} passed, {run.failed} failed")
        if run.failed or run.malformed:
            sys.exit(1)
