"""Rollups of the compliance engine's audit rows (`compliance.models.ComplianceDecision`):
how many contact checks were allowed, rescheduled or blocked, and by which rules."""

from __future__ import annotations

from django.db import models

from accounts.models import Channel


class CheckOutcome(models.TextChoices):
    ALLOWED = "allowed", "Allowed"
    RESCHEDULED = "rescheduled", "Rescheduled"
    """Not allowed now, with a later instant when it would be (`next_allowed_at`)."""
    BLOCKED = "blocked", "Blocked"
    """Not allowed, and nothing lifts the block by waiting (a flag, a channel refused)."""


class ComplianceDay(models.Model):
    """Contact checks made on `day` (UTC) by their outcome, and how many debtors they
    concerned (distinct within the day)."""

    day = models.DateField()
    creditor = models.ForeignKey("accounts.Creditor", on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=16, blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    outcome = models.CharField(max_length=12, choices=CheckOutcome.choices)
    decisions = models.PositiveIntegerField(default=0)
    debtors = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "creditor", "region", "channel", "outcome"],
                name="complianceday_unique",
            )
        ]
        indexes = [models.Index(fields=["creditor", "day"], name="complianceday_creditor_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.outcome}: {self.decisions}"


class ComplianceReasonDay(models.Model):
    """Reasons given on `day` (UTC) for checks that were not allowed, per rule `code`: a
    check refused by two rules counts once under each. `kind` is the rule's kind (cap,
    window, quiet, flag, permission) when the rule is still in the rule tables, and
    `citation` the legal reference the reason quoted."""

    day = models.DateField()
    creditor = models.ForeignKey("accounts.Creditor", on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=16, blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    outcome = models.CharField(max_length=12, choices=CheckOutcome.choices)
    code = models.CharField(max_length=100)
    kind = models.CharField(max_length=12, blank=True)
    citation = models.CharField(max_length=300, blank=True)
    decisions = models.PositiveIntegerField(default=0)
    debtors = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "creditor", "region", "channel", "outcome", "code"],
                name="compliancereasonday_unique",
            )
        ]
        indexes = [models.Index(fields=["creditor", "day"], name="compliancereason_creditor_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.code}: {self.decisions}"
