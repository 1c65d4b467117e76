"""The decision logs a retraining reads, and whether they are worth a new fit.

`logs_read` reads them and splits them in time (train on the oldest, evaluate on the
newest); `logs_checked` says whether to fit at all: not until the logs have grown enough
since the live model's training data (`RetrainOptions.min_new_share`), and not again on logs
a model was already fitted on with the same configuration (`_logs_digest`). Either way it
raises `RetrainSkipped`, which the nightly task reports as a skip, not a failure.
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
    """The logs to train on (oldest) and to evaluate on (newest), or `RetrainSkipped`."""
    logs = selectors.decision_logs(
        until=now - timedelta(days=options.reward_delay_days),
        max_rows=options.max_rows,
        chunk=options.chunk,
        click_reward=options.click_reward,
    )
    if logs.n < options.min_rows:
        raise RetrainSkipped(f"{logs.n} logged decisions; at least {options.min_rows} are needed.")
    cut = int(logs.n * (1 - options.holdout_share))
    return logs.take(np.arange(cut)), logs.take(np.arange(cut, logs.n))


def logs_checked(
    train: selectors.Logs, holdout: selectors.Logs, *, share: float, config: Any,
    random_state: int,
) -> str:  # fmt: skip
    """The logs' fingerprint (`_logs_digest`) when they are worth a fit, else
    `RetrainSkipped`: they have not grown by `share` since the live model's data
    (`_logs_grown`), or a model was already fitted on them (`_logs_new`)."""
    _logs_grown(train, holdout, share=share)
    return _logs_new(train, holdout, config=config, random_state=random_state)


def logs_concat(first: selectors.Logs, second: selectors.Logs) -> selectors.Logs:
    """`first`'s rows, then `second`'s (both oldest first, `second` the newer)."""
    return selectors.Logs(
        *(
            np.concatenate([getattr(first, f.name), getattr(second, f.name)])
            for f in dataclasses.fields(selectors.Logs)
        )
    )


def _logs_new(
    train: selectors.Logs, holdout: selectors.Logs, *, config: Any, random_state: int
) -> str:
    """The logs' fingerprint (`_logs_digest`), or `RetrainSkipped` when a model was already
    trained on them."""
    digest = _logs_digest(train, holdout, config=config, random_state=random_state)
    same = ModelVersion.objects.filter(metrics__data_sha256=digest).values("label").first()
    if same:
        raise RetrainSkipped(
            f"the logs have not changed since model {same['label']} was trained on them."
        )
    return digest


def _logs_grown(train: selectors.Logs, holdout: selectors.Logs, *, share: float) -> None:
    """`RetrainSkipped` unless the logs hold at least `share` times as many decisions newer
    than the live model's training data as it was fitted on. A fit on logs a few percent
    larger than the live model's differs from it by the noise of the fit's own choices, not
    by what the new rows teach. Applies only to a live model of this feature version."""
    if share <= 0:
        return
    live = (
        ModelVersion.objects.filter(status=ModelStatus.LIVE, feature_version=F.FEATURE_VERSION)
        .values("label", "rows_used", "data_until")
        .first()
    )
    if live is None or live["data_until"] is None:
        return
    since = live["data_until"].timestamp()
    new = int((train.decided_at > since).sum() + (holdout.decided_at > since).sum())
    needed = math.ceil(share * live["rows_used"])
    if new < needed:
        raise RetrainSkipped(
            f"{new:,} logged decisions are newer than live model {live['label']}'s training "
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
