"""An API key: a name, a public prefix and the SHA-256 of the whole key, never the key itself.

A key is `ck_<prefix>_<secret>`: `ck_` says what it is (secret scanners and people can tell
it apart from other credentials), the 8 hex digits after it are its public prefix (shown in
the admin, looked up on every request), and 40 hex digits (160 random bits) are its secret.
Keys migrated from the former DRF tokens are those tokens' 40 hex digits as they were; their
prefix is the first 8.

Only the SHA-256 of the key is stored. A slow, salted password hash would add nothing: the
key is random, so there is no dictionary to try against a leaked hash, and a fast hash keeps
the check that runs on every request cheap.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ApiKey(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_keys",
        help_text="The API user the key acts as; its creditor is the user's.",
    )
    name = models.CharField(
        max_length=100, help_text="What the key is for, e.g. “nightly sync (production)”."
    )
    prefix = models.CharField(
        max_length=16,
        db_index=True,
        editable=False,
        help_text="The start of the key, to recognise it; not a secret.",
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.CharField(max_length=100, blank=True, editable=False)
    last_used_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Updated at most once a minute.",
    )
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="The key stops working at this time; empty: never."
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.CharField(max_length=100, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        constraints = [
            # New keys' prefixes are unique, so `api_key_revoke PREFIX` names one key. Two
            # migrated tokens may begin with the same 8 digits: their hashes tell them apart.
            models.UniqueConstraint(
                fields=["prefix"],
                condition=Q(prefix__startswith="ck_"),
                name="api_key_prefix_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def status(self, now=None) -> str:
        """`active`, `expired` or `revoked`."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or timezone.now()):
            return "expired"
        return "active"
