"""Retraining, promotion and rollback of the learned policy.

`model_retrain` trains a candidate from the decision logs (read in chunks, bounded memory),
evaluates it off-policy on a time-split holdout and promotes it unless it is worse than the
live model (`model_promote_if_better`); `model_promote` and `model_rollback` are the
operators' actions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import time
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from accounts.models import DomainError
from accounts.transitions import transition_save
from recommender import evaluation, learning, selectors
from recommender import features as F
from recommender.live import LIVE_CACHE_KEY, model_load, policy_live
from recommender.models import ArtifactError, ModelStatus, ModelVersion
from recommender.policy import LoadedModel
from recommender.services import background, training_logs

log = logging.getLogger(__name__)


def learner_config(overrides: Any = None) -> learning.LearnerConfig:
    """The learner's knobs from `overrides`, by default RECOMMENDER_LEARNER_CONFIG (a dict of
    `LearnerConfig` fields; empty: the learner's tuned defaults).

    The control arm's share (RECOMMENDER_CONTROL_SHARE) is the learner's `uniform_share`
    unless the overrides set it: that uniform traffic already explores every archetype, so
    the policy arm needs a smaller uniform floor of its own."""
    if overrides is None:
        overrides = settings.RECOMMENDER_LEARNER_CONFIG
    overrides = overrides or {}
    share = float(settings.RECOMMENDER_CONTROL_SHARE)
    try:
        return learning.learner_config_from(overrides, uniform_share=share)
    except ValueError as exc:
        raise ImproperlyConfigured(f"RECOMMENDER_LEARNER_CONFIG: {exc}") from exc


@dataclass(frozen=True)
class RetrainOptions:
    """What retraining reads and how it splits it. `from_settings()` gives the configured
    values; the simulator passes its own."""

    reward_delay_days: float  # RECOMMENDER_REWARD_DELAY_DAYS
    max_rows: int  # RECOMMENDER_TRAIN_MAX_ROWS
    chunk: int  # RECOMMENDER_TRAIN_CHUNK
    click_reward: float  # RECOMMENDER_CLICK_REWARD
    min_rows: int  # RECOMMENDER_MIN_TRAIN_ROWS
    holdout_share: float  # RECOMMENDER_HOLDOUT_SHARE
    learner: dict[str, Any] | None = None  # None: RECOMMENDER_LEARNER_CONFIG
    refit_on_promotion: bool = True  # RECOMMENDER_REFIT_ON_PROMOTION
    blend_weight: float = 0.5  # RECOMMENDER_BLEND_WEIGHT
    min_new_share: float = 0.2  # RECOMMENDER_RETRAIN_MIN_NEW_SHARE
    # Start the refit in a second process beside the fit (`background`); the simulator does.
    parallel_refit: bool = False

    @classmethod
    def from_settings(cls, **changes: Any) -> RetrainOptions:
        """The configured options, with `changes` (field=value) applied;
        `ImproperlyConfigured` for a wait share that is not a number at least 0."""
        given = settings.RECOMMENDER_RETRAIN_MIN_NEW_SHARE
        try:
            share = float(given)
        except (TypeError, ValueError):
            share = math.nan  # not a number at all: the same message
        if not (math.isfinite(share) and share >= 0):
            raise ImproperlyConfigured(
                f"RECOMMENDER_RETRAIN_MIN_NEW_SHARE ({given!r}) must be a number at least 0 "
                "(0: a new fit every night)."
            )
        options = cls(
            reward_delay_days=float(settings.RECOMMENDER_REWARD_DELAY_DAYS),
            max_rows=int(settings.RECOMMENDER_TRAIN_MAX_ROWS),
            chunk=int(settings.RECOMMENDER_TRAIN_CHUNK),
            click_reward=float(settings.RECOMMENDER_CLICK_REWARD),
            min_rows=int(settings.RECOMMENDER_MIN_TRAIN_ROWS),
            holdout_share=float(settings.RECOMMENDER_HOLDOUT_SHARE),
            refit_on_promotion=bool(settings.RECOMMENDER_REFIT_ON_PROMOTION),
            blend_weight=float(settings.RECOMMENDER_BLEND_WEIGHT),
            min_new_share=share,
        )
        return dataclasses.replace(options, **changes)


def _evaluate(
    *,
    policy: learning.Policy,
    reward_model: learning.Policy | None = None,
    holdout: selectors.Logs,
    live: LoadedModel | None,
    live_since: float | None,
    chunk: int = 5_000,
) -> dict[str, Any]:
    """Off-policy values on the holdout: the candidate's exploit policy against uniform random
    and against the live model's.

    Doubly robust (the candidate's reward model as the direct part, the logged propensities
    for the correction), paired on the same rows, so the difference's interval is tight
    enough to decide a promotion; the self-normalised IPS estimate against random is reported
    beside it. Computed in chunks of rows, so memory stays bounded.
    """
    live_rows = _live_rows(holdout, live, live_since)
    unseen = int(live_rows.sum())
    comparable = live is not None and unseen >= int(settings.RECOMMENDER_MIN_LIVE_COMPARISON_ROWS)
    terms = _evaluation_terms(
        policy=policy, reward_model=reward_model or policy, holdout=holdout,
        live=live if comparable else None, live_rows=live_rows, chunk=chunk,
    )  # fmt: skip
    n = holdout.n
    vs_random = evaluation.paired_difference(terms["cand"], terms["unif"])
    snips = evaluation.snips_difference(
        holdout.rewards, holdout.propensities, terms["cand_p"], terms["unif_p"]
    )
    y = holdout.rewards > 0
    metrics: dict[str, Any] = {
        "estimator": "doubly robust (paired); SNIPS against random alongside",
        "holdout_rows": n,
        "holdout_log_loss": evaluation.log_loss(y, terms["pred"]),
        "holdout_base_log_loss": evaluation.log_loss(y, np.full(n, max(1e-6, float(y.mean())))),
        "logged_value": float(holdout.rewards.mean()),
        "value": vs_random.value_a,
        "vs_random": vs_random.as_dict(),
        "snips_vs_random": snips.as_dict(),
        "vs_live": None,
    }
    if live is not None and not comparable:
        # Too few rows neither model was fitted on to compare them (model_promote_if_better);
        # the live model's probabilities were not computed.
        metrics["vs_live"] = {"model": live.label, "n": unseen, "difference": None}
    elif live is not None and "live" in terms:
        vs_live = evaluation.paired_difference(terms["cand_l"], terms["live"]).as_dict()
        tolerance = float(settings.RECOMMENDER_PROMOTION_TOLERANCE)
        metrics["vs_live"] = {
            "model": live.label,
            **vs_live,
            "test": evaluation.rejection_power(vs_live, tolerance=tolerance),
        }
    return metrics


def _live_rows(
    holdout: selectors.Logs, live: LoadedModel | None, live_since: float | None
) -> np.ndarray:
    """The holdout rows the candidate is compared with the live model on: those decided after
    the live model's training data, so that neither model was fitted on them (the candidate
    is fitted on the rows before the holdout). All rows when the live model's horizon is
    unknown."""
    if live is not None and live_since is not None:
        return holdout.decided_at > live_since
    return np.ones(holdout.n, dtype=bool)


def _evaluation_terms(
    *,
    policy: learning.Policy,
    reward_model: learning.Policy,
    holdout: selectors.Logs,
    live: LoadedModel | None,
    live_rows: np.ndarray,
    chunk: int,
) -> dict[str, np.ndarray]:
    """Per-row doubly robust terms (candidate, uniform; candidate and live on `live_rows`),
    the two policies' probabilities of the logged action and the candidate's reward estimate
    of it, computed chunk by chunk."""
    out: dict[str, list[np.ndarray]] = {
        name: [] for name in ("cand", "unif", "cand_p", "unif_p", "pred", "live", "cand_l")
    }
    for lo in range(0, holdout.n, chunk):
        part = holdout.take(np.arange(lo, min(holdout.n, lo + chunk)))
        idx = np.arange(part.n)
        T = policy.probabilities(part.X, eligible=part.eligible, explore=False)
        U = part.eligible / part.eligible.sum(axis=1, keepdims=True)
        Q = reward_model.expected_rewards(part.X)
        args = (part.rewards, part.actions, part.propensities)
        out["cand"].append(evaluation.dr_terms(*args, T, Q))
        out["unif"].append(evaluation.dr_terms(*args, U, Q))
        out["cand_p"].append(T[idx, part.actions])
        out["unif_p"].append(U[idx, part.actions])
        out["pred"].append(Q[idx, part.actions] / max(reward_model.reward_scale, 1e-12))
        if live is not None:
            sel = live_rows[lo : lo + part.n]
            if sel.any():
                sub = part.take(np.flatnonzero(sel))
                L = live.policy.probabilities(sub.X, eligible=sub.eligible, explore=False)
                sargs = (sub.rewards, sub.actions, sub.propensities)
                out["live"].append(evaluation.dr_terms(*sargs, L, Q[sel]))
                out["cand_l"].append(evaluation.dr_terms(*sargs, T[sel], Q[sel]))
    return {name: np.concatenate(parts) for name, parts in out.items() if parts}


def model_retrain(
    *,
    actor: str = "system",
    now: datetime | None = None,
    promote: bool = True,
    random_state: int = 0,
    options: RetrainOptions | None = None,
) -> ModelVersion:
    """Train a candidate from the decision logs, evaluate it, and promote it if not worse.

    Reads the newest RECOMMENDER_TRAIN_MAX_ROWS decisions sent at least
    RECOMMENDER_REWARD_DELAY_DAYS ago (conversions had time to be attributed), in chunks of
    RECOMMENDER_TRAIN_CHUNK rows. The oldest 80% train the model; the newest 20% evaluate it
    off-policy (doubly robust) against uniform random and the live model; a candidate that
    passes goes live refitted on all the rows read (`RetrainOptions.refit_on_promotion`).
    `RetrainSkipped` (`training_logs`) below RECOMMENDER_MIN_TRAIN_ROWS rows, until the logs
    have grown by `min_new_share` since the live model's data, and on logs a model was
    already fitted on with this configuration (fingerprint: `data_sha256`). `options`
    replaces those settings (default: `RetrainOptions.from_settings()`)."""
    now = now or timezone.now()
    options = options or RetrainOptions.from_settings()
    train, holdout = training_logs.logs_read(options=options, now=now)
    config = learner_config(options.learner)
    data_sha256 = training_logs.logs_checked(
        train, holdout, config=config, random_state=random_state
    )
    every_row, pending = _refit_prepare(
        train, holdout, options, promote, config=config, random_state=random_state
    )
    started = time.perf_counter()
    fit = _fit(train, config=config, random_state=random_state)
    fit_seconds = time.perf_counter() - started
    live = policy_live(max_age=0)
    policy = _blend(fit, live, options.blend_weight)
    # The reward model of the doubly robust estimates is the fit alone (fitted on the rows
    # before the holdout), never the blend, whose live half may have seen holdout rows.
    metrics = _evaluate(
        policy=policy, reward_model=fit, holdout=holdout, live=live, live_since=_horizon(live)
    )
    if policy is not fit:
        metrics["blend"] = {"weight": options.blend_weight, "with": live.label}
    metrics.update(
        data_sha256=data_sha256,
        fit_seconds=round(fit_seconds, 2),
        train_rows=train.n,
        conversions=int((train.rewards > 0).sum()),
        context_summary=F.summarise_contexts(train.X),
    )
    fitted = train
    if every_row is not None and _verdict(metrics["vs_live"]) == "promote":
        fitted = every_row
        policy = _refit(
            fitted, metrics, live, options, pending, config=config, random_state=random_state
        )
    elif pending is not None:
        pending.cancel()  # not needed; one already running finishes unread
    model = _candidate_save(policy=policy, train=fitted, metrics=metrics, now=now, actor=actor)
    if promote:
        model = model_promote_if_better(model=model, actor=actor)
    return model


def _horizon(live: LoadedModel | None) -> float | None:
    """The live model's data horizon (`data_until`) as a timestamp; only that is read, its
    artifact being already loaded in `live`."""
    if live is None:
        return None
    until = ModelVersion.objects.filter(pk=live.id).values_list("data_until", flat=True).first()
    return until.timestamp() if until else None


def _refit(
    logs: selectors.Logs,
    metrics: dict[str, Any],
    live: LoadedModel | None,
    options: RetrainOptions,
    pending: Future | None = None,
    **fit: Any,
) -> learning.Policy:
    """The comparison passed: what goes live is the same learner refitted on every row read
    (`logs`), blended as the fit compared was, so the live model is not always missing the
    newest fifth of the logs. Its horizon (`data_until`) is then the newest row, so the next
    comparison uses only rows it was not fitted on either. Records `metrics["refit"]` (its
    `seconds`: the wait for `pending`, the refit started in a second process, if any).
    """
    started = time.perf_counter()
    refitted = background.fit_result(pending) if pending is not None else None
    if refitted is None:
        refitted = _fit(logs, **fit)
    policy = _blend(refitted, live, options.blend_weight)
    metrics["refit"] = {
        "rows": logs.n,
        "evaluated_rows": metrics["train_rows"],
        "seconds": round(time.perf_counter() - started, 2),
    }
    return policy


def _blend(fit: learning.Policy, live: LoadedModel | None, weight: float) -> learning.Policy:
    """The night's fit blended with the live model (`learning.policy_blend`, `weight` on the
    fit): an exponential moving average of the nightly reward models, which differ from night
    to night far more than the logs do. The fit alone without a live model, with a weight of
    1, or when the live model cannot be blended with it (other action features)."""
    if live is None or weight >= 1:
        return fit
    try:
        return learning.policy_blend(fit, live.policy, weight=weight)
    except ValueError as exc:
        log.warning("not blended with live model %s: %s", live.label, exc)
        return fit


def _fit(
    logs: selectors.Logs, *, config: learning.LearnerConfig, random_state: int
) -> learning.Policy:
    """The learner on `logs`."""
    args, kwargs = _fit_arguments(logs, config=config, random_state=random_state)
    return learning.fit_policy(*args, **kwargs)


def _fit_arguments(
    logs: selectors.Logs, *, config: learning.LearnerConfig, random_state: int
) -> tuple[tuple, dict[str, Any]]:
    """`learning.fit_policy`'s arguments for `logs` (plain arrays and values: they may be
    sent to another process)."""
    return (logs.X, logs.actions, logs.rewards, logs.propensities), {
        "n_actions": F.N_ACTIONS,
        "action_features": F.action_features(),
        "random_state": random_state,
        "config": config,
    }


def _refit_prepare(
    train: selectors.Logs, holdout: selectors.Logs, options: RetrainOptions, promote: bool,
    *, config: learning.LearnerConfig, random_state: int,
) -> tuple[selectors.Logs | None, Future | None]:  # fmt: skip
    """Every row read, which a passing candidate is refitted on (`_refit`), or None when no
    refit is asked (`promote` and `options.refit_on_promotion`); and, if
    `options.parallel_refit` asks, that refit started in a second process (`background`),
    kept only if the candidate passes."""
    if not (promote and options.refit_on_promotion):
        return None, None
    every_row = training_logs.logs_concat(train, holdout)
    if not options.parallel_refit:
        return every_row, None
    args, kwargs = _fit_arguments(every_row, config=config, random_state=random_state)
    return every_row, background.fit_start(args, kwargs)


def _candidate_save(
    *,
    policy: learning.Policy,
    train: selectors.Logs,
    metrics: dict[str, Any],
    now: datetime,
    actor: str,
) -> ModelVersion:
    """Store the fitted policy as a candidate `ModelVersion`."""
    artifact = policy.to_bytes()
    digest = hashlib.sha256(artifact).hexdigest()

    def at(seconds: float) -> datetime:
        return datetime.fromtimestamp(float(seconds), tz=UTC)

    with transaction.atomic():
        return ModelVersion.objects.create(
            label=f"m{now:%Y%m%d%H%M%S}-{digest[:8]}",
            feature_version=F.FEATURE_VERSION,
            n_actions=F.N_ACTIONS,
            n_features=F.N_FEATURES,
            trained_at=now,
            rows_used=train.n,
            data_from=at(train.decided_at[0]) if train.n else None,
            data_until=at(train.decided_at[-1]) if train.n else None,
            metrics=_json_safe(metrics),
            artifact=artifact,
            artifact_sha256=digest,
            created_by=actor[:100],
        )


def _json_safe(value: Any) -> Any:
    """NaN and infinities as None, numpy scalars as Python numbers (JSONField-safe)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def model_promote_if_better(*, model: ModelVersion, actor: str) -> ModelVersion:
    """Promote a candidate unless the logs show it is worse than the live model.

    Compared on the same holdout rows, decided after the live model's training data, so that
    neither was fitted on them (`metrics.vs_live`: the paired doubly robust difference
    candidate - live with its 95% interval). With fewer than
    RECOMMENDER_MIN_LIVE_COMPARISON_ROWS such rows the candidate stays a candidate, its reason
    saying so: the live model's horizon stays put, so the rows add up night after night. The
    candidate is rejected when the whole interval lies below -RECOMMENDER_PROMOTION_TOLERANCE
    (default 0): it is then worse beyond the noise. Otherwise the fresher model goes live,
    which keeps up with a changing population instead of holding on to a model that merely
    looked better by chance. A live model of another feature version cannot be compared and
    is replaced.

    Either way the status reason states the evidence and the test's power (`vs_live.test`,
    `evaluation.rejection_power`): how likely the rule was to catch a candidate 10% worse than
    the live model, and the drop it catches four times in five.
    """
    metrics = model.metrics or {}
    vs_live = metrics.get("vs_live")
    verdict = _verdict(vs_live)
    if verdict == "wait":
        needed = int(settings.RECOMMENDER_MIN_LIVE_COMPARISON_ROWS)
        model.status_reason = (
            f"Kept as a candidate: {vs_live['n']:,} held-out decisions are newer than the live "
            f"model's training data, and {needed:,} are needed to compare the two on logs "
            "neither was fitted on. A later night's candidate will have them."
        )
        model.save(update_fields=["status_reason"])
        return model
    if verdict == "reject":
        with transaction.atomic():
            locked = ModelVersion.objects.select_for_update().defer("artifact").get(pk=model.pk)
            transition_save(
                locked,
                ModelStatus.REJECTED,
                reason=f"Worse than the live model: {_evidence(vs_live)}",
                audit=lambda _old: locked,  # the row records its own status reason
            )
        return locked
    reason = (
        f"Not worse than the live model: {_evidence(vs_live)}"
        if vs_live
        else "No live model of this feature version to compare with."
    )
    return model_promote(model=model, actor=actor, reason=reason + _what_goes_live(metrics))


def _what_goes_live(metrics: dict[str, Any]) -> str:
    """The end of a promotion's reason when what goes live is not the fit compared (a status
    reason holds 300 characters): " Live: refit on 8,585 rows, blended 50% with the last;
    compared: fit on 6,868." """
    refit, blend = metrics.get("refit"), metrics.get("blend")
    blended = f"blended {blend['weight']:.0%} with the last" if blend else ""
    if not refit:
        return f" {blended.capitalize()} live model." if blend else ""
    checked = "compared" if metrics.get("vs_live") else "evaluated"
    return (
        f" Live: refit on {refit['rows']:,} rows{', ' + blended if blend else ''}; "
        f"{checked}: fit on {refit['evaluated_rows']:,}."
    )


def _verdict(vs_live: dict[str, Any] | None) -> str:
    """What `model_promote_if_better` does with a candidate of these `metrics.vs_live`:
    "wait" (too few rows neither model was fitted on), "reject" (the whole 95% interval of
    candidate - live below -RECOMMENDER_PROMOTION_TOLERANCE) or "promote"."""
    if vs_live and vs_live.get("difference") is None:
        return "wait"
    tolerance = float(settings.RECOMMENDER_PROMOTION_TOLERANCE)
    if vs_live and vs_live.get("upper") is not None and vs_live["upper"] < -tolerance:
        return "reject"
    return "promote"


def _evidence(vs_live: dict[str, Any]) -> str:
    """The comparison and the test's power, in one sentence for a status reason (300 chars):
    "value 0.0412 against 0.0398 (live), difference +0.0014 [-0.0031, +0.0059] on 2,310 rows;
    this test catches a candidate 10% worse 23% of the time, one 0.0071 worse 80% of the
    time."""
    text = (
        f"value {vs_live['value_a']:.4f} against {vs_live['value_b']:.4f} (live), difference "
        f"{evaluation.difference_text(vs_live)} on {vs_live.get('n', 0):,} rows"
    )
    test = vs_live.get("test") or {}
    if test.get("se") == 0:
        text += "; the two models chose alike on every one of them, so it says nothing more"
    elif test.get("power") is not None:
        text += (
            f"; this test catches a candidate {test['relative_drop']:.0%} worse "
            f"{test['power']:.0%} of the time, one {test['detectable_drop']:.4f} worse 80% of "
            "the time"
        )
    return text + "."


def model_promote(*, model: ModelVersion, actor: str, reason: str = "") -> ModelVersion:
    """Make `model` the live one (the previous live model retires); workers reload it."""
    candidate = model
    try:
        model_load(model=candidate)
    except ArtifactError as exc:
        raise DomainError(str(exc)) from exc
    with transaction.atomic():
        # The artifacts are not needed to change a status (it was checked above).
        rows = ModelVersion.objects.select_for_update().defer("artifact")
        current = list(rows.filter(status=ModelStatus.LIVE))
        locked = rows.get(pk=model.pk)
        if locked.status == ModelStatus.LIVE:
            return locked
        for old in current:
            reason_old = f"Replaced by {locked.label} ({actor})."
            transition_save(old, ModelStatus.RETIRED, reason=reason_old, audit=lambda _o, r=old: r)
        reason_new = (reason or f"Promoted by {actor}.")[:300]
        transition_save(locked, ModelStatus.LIVE, reason=reason_new, audit=lambda _old: locked)
        # Readers fall back to the database now, and see the new id once this commits.
        cache.delete(LIVE_CACHE_KEY)
        transaction.on_commit(lambda: cache.set(LIVE_CACHE_KEY, locked.pk, None))
    log.info("model %s promoted by %s", locked.pk, actor)
    return locked


def model_rollback(*, actor: str) -> ModelVersion:
    """Put back the model that was live before the current one (the current one retires)."""
    current = selectors.model_live()
    if current is None:
        raise DomainError("No model is live: there is nothing to roll back.")
    previous = (
        ModelVersion.objects.filter(
            status=ModelStatus.RETIRED,
            promoted_at__isnull=False,
            feature_version=F.FEATURE_VERSION,
            promoted_at__lt=current.promoted_at,
        )
        .order_by("-promoted_at")
        .first()
    )
    if previous is None:
        raise DomainError("No earlier live model of this feature version to roll back to.")
    return model_promote(
        model=previous, actor=actor, reason=f"Rollback from {current.label} by {actor}."
    )
