"""The demo history's progress row: one per installation (`DemoHistory.KEY`)."""

from __future__ import annotations

from django.db import models


class DemoHistoryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class DemoHistory(models.Model):
    """How far the demo history got. `day_done` is the last simulated day completed (-1: none):
    a run resumes after it, so a killed worker loses at most the day it was in, and that day
    is run again idempotently."""

    KEY = "default"

    key = models.CharField(max_length=20, unique=True, default=KEY)
    days = models.PositiveIntegerField()
    debtors = models.PositiveIntegerField()
    seed = models.IntegerField(default=1)
    start = models.DateTimeField(help_text="Midnight UTC of the first simulated day.")
    creditor_id = models.BigIntegerField(null=True, blank=True)
    day_done = models.IntegerField(default=-1)
    status = models.CharField(
        max_length=10, choices=DemoHistoryStatus.choices, default=DemoHistoryStatus.QUEUED
    )
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=200, blank=True, help_text="host:pid of the runner")
    seconds = models.FloatField(default=0.0, help_text="Wall-clock seconds spent so far.")
    held_schedules = models.JSONField(
        default=dict, blank=True, help_text="Schedules held while the history builds: next runs."
    )
    counts = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "demo history"
        verbose_name_plural = "demo history"

    def __str__(self) -> str:
        return f"Demo history: day {self.day_done + 1} of {self.days} ({self.status})"

    @property
    def days_done(self) -> int:
        return self.day_done + 1
