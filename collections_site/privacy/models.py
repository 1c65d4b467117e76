"""The audit of every subject access export and every erasure: who, when, which debtor, why.

Written by `collections_site.privacy.services` in the transaction that does the work, next to
a timeline entry on the debtor (`data_exported`, `data_erased`). Never edited.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class PrivacyActionKind(models.TextChoices):
    EXPORT = "export", _("Subject access export")
    ERASURE = "erasure", _("Erasure")


class PrivacyAction(models.Model):
    """One export or erasure of one debtor's personal data.

    `details` holds counts and storage names of deleted files (so a repeated erasure can
    finish deleting them), never personal data. `reason` is what the operator typed: it
    should say why (the debtor's request of a date, retention), not who.
    """

    kind = models.CharField(max_length=10, choices=PrivacyActionKind.choices)
    creditor = models.ForeignKey("accounts.Creditor", on_delete=models.PROTECT, related_name="+")
    debtor = models.ForeignKey("accounts.Debtor", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(
        max_length=100, help_text="admin:<user id>, command:<system user>, retention."
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    reason = models.TextField(blank=True)
    forced = models.BooleanField(
        default=False, help_text="An erasure of a debtor whose accounts were still open."
    )
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["debtor", "-at"])]
        permissions = [
            ("export_debtor", "Can export a debtor's personal data (subject access)"),
            ("erase_debtor", "Can erase the personal data of a debtor whose accounts are final"),
            (
                "erase_open_debtor",
                "Can force the erasure of a debtor whose accounts are open (agency admins)",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of debtor {self.debtor_id} ({self.at:%Y-%m-%d %H:%M})"
