"""`manage.py demo_history`: build (or resume) the demo history in the foreground.

`--days N --debtors N` (default DEMO_HISTORY_DAYS / DEMO_HISTORY_DEBTORS), `--seed N`,
`--reset` (delete the history's creditor and start again), `--status` (print the progress
and exit). Refused outside a demo (DEBUG off and DEMO_HISTORY unset) with exit status 1.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from collections_site.demo_history import runner


class Command(BaseCommand):
    help = "Build or resume the demo's simulated history (docs/demo.md); only in a demo."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=None)
        parser.add_argument("--debtors", type=int, default=None)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--reset", action="store_true", help="Delete it and start again.")
        parser.add_argument("--status", action="store_true", help="Print the progress only.")

    def handle(self, *args, days=None, debtors=None, seed=1, reset=False, status=False, **opts):
        if status:
            self.stdout.write(describe(runner.history_get()))
            return
        days = settings.DEMO_HISTORY_DAYS if days is None else days
        debtors = settings.DEMO_HISTORY_DEBTORS if debtors is None else debtors
        try:
            row = runner.history_prepare(days=days, debtors=debtors, seed=seed, reset=reset)
        except (runner.HistoryRefused, ValueError) as exc:
            raise CommandError(str(exc)) from None
        if row.status == runner.S.DONE:
            self.stdout.write(describe(row))
            return
        while True:
            chunk = runner.advance(max_days=1)
            row = runner.history_get()
            if not chunk.ran:
                raise CommandError(
                    "Another run is building the demo history now (the worker?); "
                    "`manage.py demo_history --status` shows its progress."
                )
            if verbose := int(opts.get("verbosity", 1)) >= 1:
                self.stdout.write(describe(row))
            if row.status == runner.S.DONE:
                break
        if not verbose:
            self.stdout.write(describe(row))


def describe(row) -> str:
    if row is None:
        return "Demo history: none (`make run` queues one; DEMO_HISTORY, docs/demo.md)."
    head = f"Demo history: day {row.days_done} of {row.days} ({row.debtors:,} debtors)"
    head += f", {row.status}"
    if row.status == runner.S.FAILED:
        return f"{head}: {row.error}"
    return f"{head}, {row.seconds:.0f} s so far."
