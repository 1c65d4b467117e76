"""Rollups of money and accounts: what was placed and collected, the accounts' statuses, and
how plans' instalments fared. Amounts are Decimal and per currency: no row, and no figure
drawn from them, ever adds two currencies together."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from accounts.models import MONEY, AccountStatus


class CollectedDay(models.Model):
    """Succeeded payments received on `day` (UTC), per currency and per placement month of
    the account they paid (`placed_month`, the first of that UTC month): the collected side
    of the weekly totals and of the liquidation curves."""

    day = models.DateField()
    creditor = models.ForeignKey("accounts.Creditor", on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=16, blank=True)
    currency = models.CharField(max_length=3)
    placed_month = models.DateField()
    payments = models.PositiveIntegerField(default=0)
    amount = models.DecimalField(**MONEY, default=Decimal("0"))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "creditor", "region", "currency", "placed_month"],
                name="collectedday_unique",
            )
        ]
        indexes = [models.Index(fields=["creditor", "day"], name="collectedday_creditor_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.amount} {self.currency}"


class PlacementDay(models.Model):
    """Accounts placed on `day` (UTC) per currency: how many, for how much, and (as of the
    last refresh) how many have paid something and how many are paid in full or settled.
    The placed side of the liquidation curves and the cohort rates."""

    day = models.DateField()
    creditor = models.ForeignKey("accounts.Creditor", on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=16, blank=True)
    currency = models.CharField(max_length=3)
    accounts = models.PositiveIntegerField(default=0)
    placed_amount = models.DecimalField(**MONEY, default=Decimal("0"))
    paying = models.PositiveIntegerField(default=0, help_text="Accounts with a payment.")
    resolved = models.PositiveIntegerField(default=0, help_text="Paid in full or settled.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "creditor", "region", "currency"], name="placementday_unique"
            )
        ]
        indexes = [models.Index(fields=["creditor", "day"], name="placementday_creditor_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.accounts} placed ({self.currency})"


class AccountStatusDay(models.Model):
    """How many accounts were in each status at the end of `day` (UTC), and their balance:
    a snapshot taken at every refresh of that day (the last one of the day stays). History
    starts on the day the rollup first ran; a past day is never recomputed."""

    day = models.DateField()
    creditor = models.ForeignKey("accounts.Creditor", on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=16, blank=True)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=12, choices=AccountStatus.choices)
    accounts = models.PositiveIntegerField(default=0)
    balance = models.DecimalField(**MONEY, default=Decimal("0"))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "creditor", "region", "currency", "status"],
                name="accountstatusday_unique",
            )
        ]
        indexes = [models.Index(fields=["creditor", "day"], name="accountstatusday_creditor_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.status}: {self.accounts}"


class InstalmentOutcome(models.TextChoices):
    ON_TIME = "on_time", "Paid on time"
    LATE = "late", "Paid late"
    MISSED = "missed", "Missed"
    OPEN = "open", "Still open"


class InstalmentDay(models.Model):
    """Plan instalments due on `day` (a calendar date, as the plan states it) by what became
    of them as of the last refresh (`InstalmentOutcome`); cancelled ones are left out."""

    day = models.DateField()
    creditor = models.ForeignKey("accounts.Creditor", on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=16, blank=True)
    currency = models.CharField(max_length=3)
    outcome = models.CharField(max_length=8, choices=InstalmentOutcome.choices)
    instalments = models.PositiveIntegerField(default=0)
    amount = models.DecimalField(**MONEY, default=Decimal("0"))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "creditor", "region", "currency", "outcome"],
                name="instalmentday_unique",
            )
        ]
        indexes = [models.Index(fields=["creditor", "day"], name="instalmentday_creditor_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.outcome}: {self.instalments}"
