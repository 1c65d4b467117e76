"""`manage.py api_key_create --creditor SLUG --name NAME [--expires-in-days N] [--user USERNAME]`

Issues an API key and prints it once, alone on standard output (so `KEY=$(...)` catches it);
what it is for goes to standard error. Only its hash is kept: it cannot be shown again.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.api_keys import services
from accounts.models import Creditor

MAX_DAYS = 3650


class Command(BaseCommand):
    help = "Issue an API key for a creditor and print it (once: only its hash is kept)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--creditor", required=True, help="The creditor's slug.")
        parser.add_argument("--name", required=True, help="What the key is for.")
        parser.add_argument(
            "--expires-in-days",
            type=int,
            default=None,
            help=f"The key stops working after this many days (1 to {MAX_DAYS}); default never.",
        )
        parser.add_argument(
            "--user",
            default=None,
            help="The API user the key acts as (bound to the creditor); default the creditor's "
            "API user, made as <slug>-api when it has none.",
        )

    def handle(self, *args, creditor: str, name: str, expires_in_days, user, **options) -> None:
        if not (creditor.isprintable() and (user or "").isprintable()):
            raise CommandError("--creditor and --user take printable text only.")
        found = Creditor.objects.filter(slug=creditor).first()
        if found is None:
            raise CommandError(f"No creditor with the slug {creditor!r}.")
        expires_at = None
        if expires_in_days is not None:
            if not 1 <= expires_in_days <= MAX_DAYS:
                raise CommandError(
                    f"--expires-in-days must be 1 to {MAX_DAYS}; leave it out for a key that "
                    "does not expire."
                )
            expires_at = timezone.now() + timedelta(days=expires_in_days)
        try:
            api_user = services.api_user_for(creditor=found, username=user)
            key, plaintext = services.api_key_issue(
                user=api_user, name=name, expires_at=expires_at, actor="command:api_key_create"
            )
        except services.ApiKeyError as refused:
            raise CommandError(str(refused)) from None
        until = f"until {key.expires_at:%Y-%m-%d %H:%M} UTC" if key.expires_at else "no expiry"
        self.stderr.write(
            f"API key {key.prefix} “{key.name}” for creditor {found.slug} (user "
            f"{api_user.username}, {until}). Shown once: store it now.",
            style_func=lambda text: text,
        )
        self.stdout.write(plaintext)
