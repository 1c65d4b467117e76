"""The live model in this process: which model is live, loaded once per promotion.

- `policy_live`: the live model, loaded once per process and reloaded when another is
  promoted (a cached version check, at most every RECOMMENDER_MODEL_RECHECK_SECONDS).
- `model_load`: a stored artifact read into a ready-to-decide model (feature version and
  checksum checked).
- `policy_forget`: drop what this process loaded (after a promotion; tests).

Read by the planner and retraining (`recommender.services`) and by the uplift report
(`recommender.selectors`); it imports neither, so both import it at module level.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

from django.conf import settings
from django.core.cache import cache

from recommender import features as F
from recommender import learning
from recommender.models import ArtifactError, ModelStatus, ModelVersion
from recommender.policy import LoadedModel

log = logging.getLogger(__name__)

LIVE_CACHE_KEY = "recommender:live-model"

_lock = threading.Lock()
_loaded: LoadedModel | None = None
_loaded_id: int | None = None
_checked_at = 0.0


def model_live_id() -> int | None:
    """The live model's id, read from the database (one indexed query); None when none is."""
    return ModelVersion.objects.filter(status=ModelStatus.LIVE).values_list("pk", flat=True).first()


def _live_id() -> int | None:
    """The live model's id: from the shared cache, else one indexed query (then cached)."""
    value = cache.get(LIVE_CACHE_KEY)
    if value is None:
        live = model_live_id()
        value = live or 0
        cache.set(LIVE_CACHE_KEY, value, int(settings.RECOMMENDER_MODEL_CHECK_SECONDS))
    return value or None


def model_load(*, model: ModelVersion) -> LoadedModel:
    """Read a stored artifact into a ready-to-decide model, or raise `ArtifactError`."""
    if model.feature_version != F.FEATURE_VERSION or model.n_actions != F.N_ACTIONS:
        raise ArtifactError(
            f"Model {model.label} was trained on feature version {model.feature_version} "
            f"({model.n_actions} actions); this code uses {F.FEATURE_VERSION} ({F.N_ACTIONS})."
        )
    data = bytes(model.artifact)
    if hashlib.sha256(data).hexdigest() != model.artifact_sha256:
        raise ArtifactError(f"Model {model.label}: artifact checksum mismatch.")
    try:
        policy = learning.Policy.from_bytes(data)
    except ValueError as exc:
        raise ArtifactError(f"Model {model.label}: {exc}") from exc
    if policy.n_features != F.N_FEATURES:
        raise ArtifactError(f"Model {model.label}: {policy.n_features} features, expected more.")
    summary = (model.metrics or {}).get("context_summary") or {}
    return LoadedModel.build(id=model.pk, label=model.label, policy=policy, summary=summary)


def policy_live(*, max_age: float | None = None) -> LoadedModel | None:
    """The live model, loaded at most once per promotion in this process.

    Checks which model is live at most every `max_age` seconds (setting
    RECOMMENDER_MODEL_RECHECK_SECONDS, default 5): a cache read, or one indexed query when
    the cache is cold. A worker picks up a newly promoted model within that time.
    """
    global _loaded, _loaded_id, _checked_at
    max_age = float(settings.RECOMMENDER_MODEL_RECHECK_SECONDS if max_age is None else max_age)
    now = time.monotonic()
    if _loaded_id is not None and now - _checked_at < max_age:
        return _loaded
    with _lock:
        live_id = _live_id()
        _checked_at = now
        if live_id == _loaded_id and (_loaded is not None or live_id is None):
            return _loaded
        model = ModelVersion.objects.filter(pk=live_id).first() if live_id else None
        if model is None:
            _loaded, _loaded_id = None, None
            return None
        try:
            _loaded = model_load(model=model)
        except ArtifactError:
            log.exception("live model %s cannot be used; deciding without a model", model.pk)
            _loaded = None
        _loaded_id = live_id
        return _loaded


def policy_forget() -> None:
    """Drop this process's loaded model and cached live id (after a promotion; tests)."""
    global _loaded, _loaded_id, _checked_at
    with _lock:
        _loaded, _loaded_id, _checked_at = None, None, 0.0
    cache.delete(LIVE_CACHE_KEY)
