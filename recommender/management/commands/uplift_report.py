"""`manage.py uplift_report`: per-arm rates with 95% intervals, the policy's relative uplift
over the random control, and the live model's off-policy value against random, as JSON.

An uplift whose arms are short of the sends its test needs has no value or interval, only
its `message` ("not enough data yet: ...")."""

from __future__ import annotations

import json
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from recommender.selectors import uplift_report


class Command(BaseCommand):
    help = "Print the recommender's uplift report (JSON)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--days", type=int, default=None, help="Only messages sent in the last N days."
        )

    def handle(self, *args, days: int | None = None, **options) -> None:
        if days is not None and days < 1:
            raise CommandError(f"--days must be at least 1; got {days}.")
        since = timezone.now() - timedelta(days=days) if days else None
        self.stdout.write(json.dumps(uplift_report(since=since, for_display=True), indent=2))
