"""``manage.py load_rule_packs [--force] [--dir DIR]``: load the shipped rule packs.

Idempotent: a second run changes nothing. Rules and regions an admin edited (or shipped rules
an admin deleted) are kept unless ``--force``. Migration ``0002`` runs the same loader
(``compliance.loading.rule_packs_load``) so a fresh database has the packs.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance import packs
from compliance.loading import SYSTEM_PREFIX, rule_packs_load


class Command(BaseCommand):
    help = "Load the shipped compliance rule packs into the database (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Overwrite rules and regions an admin edited, and re-create deleted ones.",
        )
        parser.add_argument(
            "--dir", default=str(packs.PACKS_DIR), help="Directory of *.json rule packs."
        )

    def handle(self, *args, **options) -> None:
        try:
            report = rule_packs_load(
                directory=options["dir"],
                force=options["force"],
                actor=SYSTEM_PREFIX + "load_rule_packs" + (" --force" if options["force"] else ""),
            )
        except (packs.PackError, ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        for label, codes in (
            ("created", report.created),
            ("updated", report.updated),
            ("removed", report.removed),
        ):
            for code in codes:
                self.stdout.write(f"{label}: {code}")
        for code in report.kept_edited:
            self.stdout.write(f"kept (edited by an admin; --force overwrites): {code}")
        self.stdout.write(report.summary())
