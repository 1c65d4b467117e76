"""`manage.py retrain`: train a candidate model from the decision logs now (what the nightly
task does) and promote it when it is not worse than the live model. With too few logged
decisions it says so and exits 0, changing nothing, as the nightly task does."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from recommender import services


class Command(BaseCommand):
    help = "Retrain the recommender from its decision logs."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--no-promote", action="store_true", help="Keep the new model as a candidate."
        )

    def handle(self, *args, no_promote: bool = False, **options) -> None:
        try:
            model = services.model_retrain(actor="command:retrain", promote=not no_promote)
        except services.RetrainSkipped as exc:
            # Too little to learn from is not a failure (the nightly task skips the same way):
            # say so and leave the live model as it is.
            self.stdout.write(f"Not retrained: {exc} The live model is unchanged.")
            return
        shown = {k: v for k, v in model.metrics.items() if k != "context_summary"}
        self.stdout.write(
            json.dumps({"model": model.label, "status": model.status, "metrics": shown}, indent=2)
        )
