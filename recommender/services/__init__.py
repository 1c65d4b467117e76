"""Writes of the recommender: the contact planner, retraining, typologies; and the live model.

One module per topic; this package re-exports the public names, so callers write
`recommender.services.plan_contacts`.

- `planning.py`: `plan_contacts`, the decision step of the contact cycle (scheduled hourly),
  `candidates_build`, `plan_parts`, `PlanResult`.
- `retraining.py`: `model_retrain` / `model_promote_if_better` / `model_promote` /
  `model_rollback`: training from the decision logs, off-policy evaluation on a time-split
  holdout, promotion only when the candidate is not worse than the live model;
  `RetrainOptions` (what it reads, from the settings or given as values), `learner_config`.
- `training_logs.py`: the logs retraining reads, and whether they are worth a new fit (grown
  enough since the live model's data, not already fitted on); `RetrainSkipped` otherwise.
- `typology.py`: `typology_refresh`, debtor typologies recomputed from their behaviour.
- `background.py`: the learner in a second process, for the refit retraining may start beside
  its candidate's fit (`RetrainOptions.parallel_refit`).
- `policy_live`, `model_load`, `policy_forget` live in `recommender.live` (the selectors read
  the live model too) and are re-exported here.
"""

from recommender.live import LIVE_CACHE_KEY, model_load, policy_forget, policy_live
from recommender.services.planning import PlanResult, candidates_build, plan_contacts, plan_parts
from recommender.services.retraining import (
    RetrainOptions,
    learner_config,
    model_promote,
    model_promote_if_better,
    model_retrain,
    model_rollback,
)
from recommender.services.training_logs import RetrainSkipped
from recommender.services.typology import typology_refresh

__all__ = [
    "LIVE_CACHE_KEY",
    "PlanResult",
    "RetrainOptions",
    "RetrainSkipped",
    "candidates_build",
    "learner_config",
    "model_load",
    "model_promote",
    "model_promote_if_better",
    "model_retrain",
    "model_rollback",
    "plan_contacts",
    "plan_parts",
    "policy_forget",
    "policy_live",
    "typology_refresh",
]
