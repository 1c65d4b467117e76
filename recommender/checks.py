"""System checks (`manage.py check`, and when `runserver`, `migrate` or the worker start):
a mistyped learner setting is named at start-up, not first by a failed nightly retrain. A
warning, not an error: it must not stop the worker that sends messages."""

from __future__ import annotations

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from recommender.services import learner_config


@checks.register()
def learner_config_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    try:
        learner_config()
    except ImproperlyConfigured as exc:
        return [checks.Warning(str(exc), id="recommender.W001")]
    return []
