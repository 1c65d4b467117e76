"""`manage.py simulate --debtors 5000 --days 60 --seed 1`: the recommender's demonstration.

Runs the real contact cycle (placement, planning, compliance, the outbox, attribution,
nightly typologies and retraining) against simulated debtors in a throwaway database (the
test database of the configured one: in memory for SQLite, `test_<name>` on PostgreSQL),
prints a JSON summary and writes a learning-curve PNG. See docs/simulator.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings, setup_databases, teardown_databases


class Command(BaseCommand):
    help = "Simulate debtors against the real pipeline and report the recommender's uplift."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--debtors", type=int, default=5000)
        parser.add_argument("--days", type=int, default=60)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--png", type=Path, default=Path("simulation-learning-curve.png"),
            help="Where to write the learning curve.",
        )  # fmt: skip
        parser.add_argument("--json", type=Path, default=None, help="Also write the summary here.")
        parser.add_argument(
            "--no-retrain", action="store_true", help="Never train (the policy stays uniform)."
        )
        parser.add_argument("--quiet", action="store_true", help="No per-day progress lines.")
        parser.add_argument(
            "--timings", action="store_true",
            help="Add where the run spent its wall-clock time to the summary (the one part "
            "that differs between two runs of the same seed).",
        )  # fmt: skip
        parser.add_argument(
            "--learner", type=_learner_overrides, default={}, metavar="JSON",
            help='Learner settings (LearnerConfig fields, a JSON object) over the nightly '
            'retraining\'s own, e.g. \'{"loosen_se": 0}\': to see how a change does in '
            "closed loop.",
        )  # fmt: skip
        parser.add_argument(
            "--send-time-share", type=float, default=0.1,
            help="Share of decisions in the send-time arm (the policy at a random send hour), "
            "to measure what choosing the hour is worth (default 0.1); 0 leaves it off.",
        )  # fmt: skip

    def handle(self, *args, **opts) -> None:
        from recommender.simulator import (
            SIMULATOR_RETRAIN,
            SIMULATOR_SETTINGS,
            SimulationConfig,
            dump,
            simulate,
        )

        for name, least in (("debtors", 1), ("days", 1), ("seed", 0)):
            if opts[name] < least:
                raise CommandError(f"--{name} must be at least {least}; got {opts[name]}.")
        share, control = opts["send_time_share"], float(settings.RECOMMENDER_CONTROL_SHARE)
        if not 0 <= share < 1 - control:
            raise CommandError(
                f"--send-time-share must be at least 0 and below {1 - control:g} (what the "
                f"control arm's {control:g} leaves the policy); got {share:g}."
            )
        for name in ("png", "json"):
            if opts[name] is not None:
                _check_writable(opts[name], option=f"--{name}")
        logging.getLogger("recommender.simulator").setLevel(
            logging.ERROR if opts["quiet"] else logging.WARNING
        )
        for noisy in ("django_tasks", "wagtail", "recommender.services", "messaging"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
        retrain_options = dict(SIMULATOR_RETRAIN)
        retrain_options["learner"] = {**SIMULATOR_RETRAIN["learner"], **opts["learner"]}
        config = SimulationConfig(
            retrain_options=retrain_options,
            debtors=opts["debtors"],
            days=opts["days"],
            seed=opts["seed"],
            retrain=not opts["no_retrain"],
            png=opts["png"],
            progress=not opts["quiet"],
            timings=opts["timings"],
            send_time_share=share,
        )
        old = setup_databases(
            verbosity=0, interactive=False, keepdb=False, aliases={"default"},
            serialized_aliases=set(),
        )  # fmt: skip
        try:
            # Messaging reads its channel backends and disclosure facts from settings only:
            # the simulated ones, for this throwaway database's lifetime.
            with override_settings(**SIMULATOR_SETTINGS):
                summary = simulate(config)
        finally:
            teardown_databases(old, verbosity=0)
        text = dump(summary)
        if opts["json"]:
            opts["json"].write_text(text)
        self.stdout.write(text)


def _learner_overrides(text: str) -> dict[str, Any]:
    """--learner's JSON object of `LearnerConfig` fields, checked as the setting is
    (`learner_config_from`), so that a mistake stops the command now rather than the first
    nightly fit."""
    from recommender.learning import learner_config_from

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("a JSON object of LearnerConfig fields is needed")
    try:
        learner_config_from(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return value


def _check_writable(path: Path, *, option: str) -> None:
    """Refuse an output path now rather than after a run of many minutes."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"{option}: cannot write to {path}: {exc}") from exc
    if not os.access(path.parent, os.W_OK):
        raise CommandError(f"{option}: cannot write to {path}.")
