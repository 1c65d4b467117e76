"""`manage.py portal_link EXTERNAL_REF --creditor SLUG`: print a fresh portal link.

Support staff use it when a debtor calls. EXTERNAL_REF is the account's reference (or, failing
that, the debtor's). Exits non-zero, naming nothing about other tenants, when not found. With
DEBUG on (a demo), a second line says what the verification page will ask for.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.links import demo_verification_hint, portal_url
from accounts.models import Account, Creditor, Debtor


class Command(BaseCommand):
    help = "Print a fresh portal link for an account (or debtor) reference of a creditor."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("external_ref", help="Account external_ref (or debtor external_ref).")
        parser.add_argument("--creditor", required=True, help="Creditor slug.")

    def handle(self, *args, external_ref: str, creditor: str, **options) -> None:
        tenant = Creditor.objects.filter(slug=creditor).first()
        if tenant is None:
            raise CommandError(f"No creditor with slug {creditor!r}.")
        debtor = (
            Debtor.objects.filter(
                creditor=tenant,
                pk__in=Account.objects.filter(creditor=tenant, external_ref=external_ref).values(
                    "debtor_id"
                ),
            ).first()
            or Debtor.objects.filter(creditor=tenant, external_ref=external_ref).first()
        )
        if debtor is None:
            raise CommandError(f"No account or debtor {external_ref!r} for creditor {creditor!r}.")
        self.stdout.write(portal_url(debtor_id=debtor.pk))
        hint = demo_verification_hint(
            date_of_birth=debtor.date_of_birth, postal_code=debtor.postal_code
        )
        if hint:
            self.stdout.write(hint)
