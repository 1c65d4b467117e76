"""`manage.py retrain`: train a candidate model from the decision logs now (what the nightly
task does) and promote it when it is not worse than the live model. With too few logged
decisions, or logs that have not grown enough since the live model's data
(RECOMMENDER_RETRAIN_MIN_NEW_SHARE; `--now` fits anyway), it says so and exits 0, changing
nothing, as the nightly task does."""

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
        parser.add_argument(
            "--now",
            action="store_true",
            help="Fit even if the logs have not grown by RECOMMENDER_RETRAIN_MIN_NEW_SHARE "
            "since the live model's training data.",
        )

    def handle(self, *args, no_promote: bool = False, now: bool = False, **options) -> None:
        retrain = services.RetrainOptions.from_settings(min_new_share=0) if now else None
        try:
            model = services.model_retrain(
                actor="command:retrain", promote=not no_promote, options=retrain
            )
        except services.RetrainSkipped as exc:
            # Too little to learn from is not a failure (the nightly task skips the same way):
            # say so and leave the live model as it is.
            self.stdout.write(f"Not retrained: {exc} The live model is unchanged.")
            return
        shown = {k: v for k, v in model.metrics.items() if k != "context_summary"}
        self.stdout.write(
            json.dumps({"model": model.label, "status": model.status, "metrics": shown}, indent=2)
        )
