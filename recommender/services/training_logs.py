"""The decision logs a retraining reads, and whether they are worth a new fit.

`logs_read` says first, from one count of the logs, whether there is anything to fit: not
below the minimum of rows, and not until the logs have grown enough since the live model's
training data (`RetrainOptions.min_new_share`); then it reads them and splits them in time
(train on the oldest, evaluate on the newest). `logs_checked` refuses logs a model was
already fitted on with the same configuration (`_logs_digest`). Each raises
`RetrainSkipped`, which the nightly task reports as a skip, not a failure. Most nights of a
steady deployment stop at the count, without reading the logs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from accounts.models import DomainError
from recommender import features as F
from recommender import selectors
from recommender.models import ModelStatus, ModelVersion

if TYPE_CHECKING:
    from recommender.services.retraining import RetrainOptions


class RetrainSkipped(DomainError):
    """Nothing to train on: too few logged decisions, logs not grown enough since the live
    model's data, or logs a model was already fitted on."""


def logs_read(*, options: RetrainOptions, now: datetime) -> tuple[selectors.Logs, selectors.Logs]:
    """The logs to train on (oldest) and to evaluate on (newest), or `RetrainSkipped`: fewer
    than `options.min_rows` rows, or not grown enough (`_logs_grown`). Both are decided
    from a count before any row is read."""
    until = now - timedelta(days=options.reward_delay_days)
    live = (
        ModelVersion.objects.filter(status=ModelStatus.LIVE, feature_version=F.FEATURE_VERSION)
        .values("label", "rows_used", "data_until")
        .first()
    )
    horizon = live["data_until"] if live else None
    rows, newer = selectors.decision_logs_count(until=until, newer_than=horizon)
    rows, newer = min(rows, options.max_rows), min(newer, options.max_rows)
    if rows < options.min_rows:
        raise RetrainSkipped(f"{rows} logged decisions; at least {options.min_rows} are needed.")
    if horizon is not None:
        _logs_grown(newer, live, share=options.min_new_share)
    logs = selectors.decision_logs(
        until=until, max_rows=options.max_rows, chunk=options.chunk,
        click_reward=options.click_reward,
    )  # fmt: skip
    cut = int(logs.n * (1 - options.holdout_share))
    return logs.take(np.arange(cut)), logs.take(np.arange(cut, logs.n))


def logs_checked(
    train: selectors.Logs, holdout: selectors.Logs, *, config: Any, random_state: int
) -> str:
    """The logs' fingerprint (`_logs_digest`), or `RetrainSkipped` when a model was already
    fitted on them with this configuration and seed."""
    digest = _logs_digest(train, holdout, config=config, random_state=random_state)
    same = ModelVersion.objects.filter(metrics__data_sha256=digest).values("label").first()
    if same:
        raise RetrainSkipped(
            f"the logs have not changed since model {same['label']} was trained on them."
        )
    return digest


def logs_concat(first: selectors.Logs, second: selectors.Logs) -> selectors.Logs:
    """`first`'s rows, then `second`'s (both oldest first, `second` the newer)."""
    return selectors.Logs(
        *(
            np.concatenate([getattr(first, f.name), getattr(second, f.name)])
            for f in dataclasses.fields(selectors.Logs)
        )
    )


def _logs_grown(newer: int, live: dict[str, Any], *, share: float) -> None:
    """`RetrainSkipped` unless the logs hold at least `share` times as many decisions newer
    than the `live` model's training data (`newer`) as it was fitted on. A fit on logs a few
    percent larger than the live model's differs from it by the noise of the fit's own
    choices, not by what the new rows teach. Applies only to a live model of this feature
    version."""
    needed = math.ceil(share * live["rows_used"])
    if share > 0 and newer < needed:
        raise RetrainSkipped(
            f"{newer:,} logged decisions are newer than live model {live['label']}'s training "
            f"data; a new fit waits for {needed:,} ({share:.0%} of the {live['rows_used']:,} "
            "it was fitted on)."
        )


def _logs_digest(
    train: selectors.Logs, holdout: selectors.Logs, *, config: Any, random_state: int
) -> str:
    """A fingerprint of what a fit and its evaluation would see: every logged row (contexts,
    actions, propensities, rewards, times), the split, the learner's configuration and seed.
    Retraining on the same fingerprint would store the same model again (a retried night, a
    night with no decision old enough to be new), so `model_retrain` skips it."""
    digest = hashlib.sha256()
    for logs in (train, holdout):
        digest.update(str(logs.n).encode())
        for array in (logs.X, logs.actions, logs.propensities, logs.rewards, logs.eligible,
                      logs.decided_at):  # fmt: skip
            digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(repr((F.FEATURE_VERSION, config, random_state)).encode())
    return digest.hexdigest()
