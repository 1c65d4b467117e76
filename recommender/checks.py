"""System checks (`manage.py check`, and when `runserver`, `migrate` or the worker start):
a mistyped learner setting, arm shares that leave the policy no traffic, or a retraining
wait that is not a number at least 0, are named at
start-up, not first by a failed nightly retrain or planning run. Warnings, not errors: they
must not stop the worker that sends messages."""

from __future__ import annotations

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from recommender.services import RetrainOptions, learner_config
from recommender.services.planning import arm_shares


@checks.register()
def learner_config_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    try:
        learner_config()
    except ImproperlyConfigured as exc:
        return [checks.Warning(str(exc), id="recommender.W001")]
    return []


@checks.register()
def arm_shares_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    try:
        arm_shares()
    except ImproperlyConfigured as exc:
        return [checks.Warning(str(exc), id="recommender.W002")]
    return []


@checks.register()
def retrain_options_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    try:
        RetrainOptions.from_settings()
    except ImproperlyConfigured as exc:
        return [checks.Warning(str(exc), id="recommender.W003")]
    return []
