"""`manage.py rollups_refresh [--full | --day YYYY-MM-DD ...]`: bring the cockpit's rollups up
to date now (the scheduled task does it every five minutes)."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from collections_site.operations.rollups import rollups_refresh


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--day {value!r} is not a date (YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = "Fold every change since the last refresh into the cockpit's rollups."

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--full", action="store_true", help="Rebuild every day there is.")
        which.add_argument(
            "--day",
            action="append",
            default=[],
            metavar="YYYY-MM-DD",
            help="Rebuild this UTC day (repeatable).",
        )

    def handle(self, *args, full: bool = False, day: list[str], **options) -> None:
        days = [_day(d) for d in day] or None
        for r in rollups_refresh(full=full, days=days):
            self.stdout.write(f"{r.name}: {r.days} days, {r.rows} rows in {r.seconds:.2f} s")
