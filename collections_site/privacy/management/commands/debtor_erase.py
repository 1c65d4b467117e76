"""`manage.py debtor_erase DEBTOR_REF --creditor SLUG --reason TEXT [--force]`: erase one
debtor's personal data, keeping what the law requires (docs/privacy.md).

Refused while any of the debtor's accounts is open, unless `--force` (which closes them
first): whoever runs commands on the server has agency-level access, and the system user
is recorded with the reason. A debtor already erased is reported and left as it is (exit 0).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from collections_site.privacy import services


class Command(BaseCommand):
    help = "Erase one debtor's personal data (the reason is audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("debtor_ref", help="The debtor's external_ref.")
        parser.add_argument("--creditor", required=True, help="Creditor slug.")
        parser.add_argument(
            "--reason",
            required=True,
            help='Why (e.g. "erasure request of 2026-03-01 by letter"); kept in the audit.',
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Erase even though accounts are open (they are closed first).",
        )

    def handle(self, *args, debtor_ref: str, creditor: str, reason: str, force: bool, **opts):
        try:
            debtor = services.debtor_by_ref(creditor_slug=creditor, debtor_ref=debtor_ref)
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        try:
            result = services.debtor_erase(
                debtor=debtor,
                actor=services.command_actor("erase"),
                reason=reason,
                force=force,
                allow_force=True,
            )
        except services.ErasureRefused as exc:
            raise CommandError(f"Not erased: {exc}") from None
        if result.already:
            self.stdout.write(
                f"Debtor {debtor_ref!r} was already erased on "
                f"{result.erased_at:%Y-%m-%d %H:%M} UTC; nothing changed."
            )
            return
        closed = " Open accounts closed first." if result.forced else ""
        self.stdout.write(
            f"Erased debtor {debtor_ref!r} (privacy action {result.action_id}).{closed}"
        )
