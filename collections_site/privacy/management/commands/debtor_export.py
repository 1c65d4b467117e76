"""`manage.py debtor_export DEBTOR_REF --creditor SLUG [--output FILE]`: one debtor's subject
access export, a .zip (docs/privacy.md). Audited like the admin's: a privacy action and an
entry on the debtor's timeline. Never overwrites a file; exits non-zero, naming nothing of
other tenants, when the creditor or debtor is unknown."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from collections_site.privacy import services


class Command(BaseCommand):
    help = "Write everything held about one debtor to a .zip archive (subject access)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("debtor_ref", help="The debtor's external_ref.")
        parser.add_argument("--creditor", required=True, help="Creditor slug.")
        parser.add_argument(
            "--output",
            help="File to write; default personal-data-<creditor>-<debtor id>-<UTC time>.zip "
            "in the current folder. An existing file is never overwritten.",
        )

    def handle(self, *args, debtor_ref: str, creditor: str, output: str | None, **options):
        try:
            debtor = services.debtor_by_ref(creditor_slug=creditor, debtor_ref=debtor_ref)
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        target = Path(output) if output else None
        if target is not None:
            _check_writable(target)
        export = services.debtor_export(debtor=debtor, actor=services.command_actor("export"))
        target = target or Path(export.filename)
        try:
            with open(target, "xb") as handle:
                handle.write(export.content)
        except OSError as exc:
            raise CommandError(f"Cannot write {target}: {exc.strerror or exc}.") from None
        counts = export.counts
        self.stdout.write(
            f"Wrote {target}: {counts['accounts']} account(s), {counts['messages']} message(s) "
            f"({counts['rendered_messages']} as sent), {counts['documents']} document(s). "
            f"Audited as privacy action {export.action_id}."
        )


def _check_writable(target: Path) -> None:
    if target.exists():
        raise CommandError(f"{target} exists; choose another file (it is never overwritten).")
    if not target.parent.is_dir():
        raise CommandError(f"The folder {target.parent} does not exist.")
