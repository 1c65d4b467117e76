"""`manage.py retention_apply [--dry-run]`: apply every retention period now (the daily
schedule `privacy.retention_apply` does the same), or with `--dry-run` only say what would
go: counts per kind and region, never personal data (docs/privacy.md, Retention)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from collections_site.privacy import retention, services


class Command(BaseCommand):
    help = "Apply the retention periods (or, with --dry-run, count what they would remove)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count only; change nothing.")

    def handle(self, *args, dry_run: bool, **options) -> None:
        lines = services.retention_apply(dry_run=dry_run)
        verb = "would remove" if dry_run else "removed"
        self.stdout.write(f"{'kind':<22} {'region':<10} {'days':>6} {verb:>13}")
        for line in lines:
            extra = f"  ({line.deferred} deferred: a message in flight)" if line.deferred else ""
            self.stdout.write(
                f"{line.kind:<22} {line.region:<10} {line.days:>6} {line.count:>13}{extra}"
            )
        self.stdout.write("")
        for kind, text in retention.KINDS.items():
            self.stdout.write(f"{kind}: {text}")
        if dry_run:
            self.stdout.write("Dry run: nothing was changed.")
