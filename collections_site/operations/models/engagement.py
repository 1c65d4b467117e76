"""Rollups of the outbox: what was sent and what became of it, per send day; and every
message's status, per creation day."""

from __future__ import annotations

from django.db import models

from accounts.models import Channel
from messaging.models import MessageStatus


class RollupState(models.Model):
    """How far each rollup has read its source: one row per rollup `name`.

    `watermark` is the source's change time up to which every change has been folded in;
    the next refresh re-reads from a little before it (`rollups.OVERLAP`), so a transaction
    that committed late is not missed."""

    name = models.CharField(max_length=40, unique=True)
    watermark = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    days_refreshed = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0, help_text="How long the last refresh took.")

    def __str__(self) -> str:
        return f"{self.name} up to {self.watermark}"


class EngagementDay(models.Model):
    """Messages sent on `day` (UTC) and how far each got: the engagement funnel.

    A message counts once, on the day it was sent, in every stage it reached by the last
    refresh (delivered, opened, clicked, converted), so the funnel's stages are nested.
    `arm` is blank for a message that no planner decision chose (e.g. a fresh portal link):
    those are in the funnel but in neither arm of the uplift."""

    day = models.DateField()
    creditor = models.ForeignKey("accounts.Creditor", on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=16, blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    variant = models.ForeignKey(
        "messaging.MessageVariant", on_delete=models.CASCADE, related_name="+"
    )
    stage = models.CharField(max_length=20, blank=True)
    arm = models.CharField(max_length=10, blank=True)
    sent = models.PositiveIntegerField(default=0)
    delivered = models.PositiveIntegerField(default=0)
    opened = models.PositiveIntegerField(default=0)
    clicked = models.PositiveIntegerField(default=0)
    converted = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "creditor", "region", "channel", "variant", "stage", "arm"],
                name="engagementday_unique",
            )
        ]
        indexes = [models.Index(fields=["creditor", "day"], name="engagementday_creditor_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.channel} {self.variant_id}: {self.sent} sent"


class SendTimeDay(models.Model):
    """Messages sent on `day` (UTC) by the debtor's local weekday and hour at sending, and
    how many converted: the evidence for the send-time choice."""

    day = models.DateField()
    creditor = models.ForeignKey("accounts.Creditor", on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=16, blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    arm = models.CharField(max_length=10, blank=True)
    local_weekday = models.PositiveSmallIntegerField(help_text="0 Monday ... 6 Sunday.")
    local_hour = models.PositiveSmallIntegerField()
    sent = models.PositiveIntegerField(default=0)
    converted = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "day",
                    "creditor",
                    "region",
                    "channel",
                    "arm",
                    "local_weekday",
                    "local_hour",
                ],
                name="sendtimeday_unique",
            )
        ]
        indexes = [models.Index(fields=["creditor", "day"], name="sendtimeday_creditor_day")]

    def __str__(self) -> str:
        return f"{self.day} weekday {self.local_weekday} {self.local_hour}h: {self.sent} sent"


class TypologyDay(models.Model):
    """Messages sent on `day` (UTC) and how many converted, by the debtor's typology code at
    the last refresh (blank: not computed yet)."""

    day = models.DateField()
    creditor = models.ForeignKey("accounts.Creditor", on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=16, blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    arm = models.CharField(max_length=10, blank=True)
    typology = models.CharField(max_length=4, blank=True)
    sent = models.PositiveIntegerField(default=0)
    converted = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "creditor", "region", "channel", "arm", "typology"],
                name="typologyday_unique",
            )
        ]
        indexes = [models.Index(fields=["creditor", "day"], name="typologyday_creditor_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.typology or '-'}: {self.sent} sent"


class OutboxStatusDay(models.Model):
    """Messages created on `day` (UTC) by their status at the last refresh: the Health page's
    messages by status, for the statuses that hold nearly every message (sent, delivered,
    failed, blocked, cancelled). The few waiting ones it counts live
    (`messaging.models.WAITING_STATUSES`), but every status has its rows.

    A message is created once and never moves to another day; a status change bumps its
    `updated_at`, so the days to rebuild are the creation days of the messages updated since
    the watermark."""

    day = models.DateField()
    creditor = models.ForeignKey("accounts.Creditor", on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=16, blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=MessageStatus.choices)
    messages = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "creditor", "region", "channel", "status"],
                name="outboxstatusday_unique",
            )
        ]
        indexes = [models.Index(fields=["creditor", "day"], name="outboxstatusday_creditor_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.status}: {self.messages}"
