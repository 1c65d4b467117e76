"""`manage.py api_key_revoke PREFIX`: the key stops working at once (its next request is a 401).

PREFIX is what the admin's list shows (`ck_1a2b3c4d`, or a migrated token's first 8
characters); the whole key works too.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.api_keys import services
from accounts.api_keys.models import ApiKey


class Command(BaseCommand):
    help = "Revoke an API key, named by its prefix (as the admin lists it)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("prefix", help="e.g. ck_1a2b3c4d")

    def handle(self, *args, prefix: str, **options) -> None:
        given = prefix.strip().rstrip("…")
        if not given.isprintable() or len(given) > 100:
            raise CommandError("That is not an API key's prefix (e.g. ck_1a2b3c4d).")
        keys = list(ApiKey.objects.filter(prefix=given).select_related("user"))
        if not keys:
            # The whole key, pasted: found by its hash.
            keys = list(
                ApiKey.objects.filter(key_hash=services.key_hash(given)).select_related("user")
            )
        if not keys:
            raise CommandError(f"No API key has the prefix {given!r}.")
        if len(keys) > 1:
            raise CommandError(
                f"{len(keys)} keys migrated from tokens begin with {given!r}: revoke the one "
                "you mean in the Django admin (API keys), or give the whole key."
            )
        (key,) = keys
        if not services.api_key_revoke(key=key, actor="command:api_key_revoke"):
            self.stdout.write(f"API key {key.prefix} “{key.name}” was revoked already.")
            return
        self.stdout.write(
            f"Revoked API key {key.prefix} “{key.name}” (user {key.user.username}): refused "
            "from now on."
        )
