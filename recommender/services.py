"""Writes of the recommender: the contact planner, the live model, retraining, typologies.

- `plan_contacts`: the decision step of the contact cycle (scheduled hourly). Accounts due a
  contact -> candidates (live variants x send times the debtor allows) -> compliance drops the
  blocked ones -> the policy picks one -> `messaging.services.messages_send`. Safe to run
  twice or to kill half-way: a message's (account, slot) is unique and the slot is the
  debtor's local planning day, so a re-run finds the message instead of planning another.
- `policy_live`: the live model, loaded once per process and reloaded when another is
  promoted (a cached version check, at most every few seconds).
- `model_retrain` / `model_promote` / `model_rollback`: training from the decision logs (in
  chunks, bounded memory), off-policy evaluation on a time-split holdout, promotion only when
  the candidate is not worse than the live model.
- `typology_refresh`: recompute debtor typologies from their behaviour.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from accounts.bulk import bulk_insert
from accounts.models import OPEN_STATUSES, Account, DomainError
from accounts.statistics import table_analyze
from compliance import services as compliance
from messaging import selectors as messaging_selectors
from messaging import services as messaging
from messaging.models import MessageStatus
from recommender import evaluation, learning, selectors
from recommender import features as F
from recommender.models import (
    ArtifactError,
    DebtorTypology,
    Decision,
    ModelStatus,
    ModelVersion,
)
from recommender.policy import Candidate, Choice, LoadedModel, choose
from recommender.selectors import setting
from recommender.typology import typology_inputs, typology_score

log = logging.getLogger(__name__)

LIVE_CACHE_KEY = "recommender:live-model"

# --- the live model in this process ---------------------------------------------------------

_lock = threading.Lock()
_loaded: LoadedModel | None = None
_loaded_id: int | None = None
_checked_at = 0.0


def _live_id() -> int | None:
    """The live model's id: from the shared cache, else one indexed query (then cached)."""
    value = cache.get(LIVE_CACHE_KEY)
    if value is None:
        live = selectors.model_live_id()
        value = live or 0
        cache.set(LIVE_CACHE_KEY, value, int(setting("RECOMMENDER_MODEL_CHECK_SECONDS", 60)))
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
    max_age = float(setting("RECOMMENDER_MODEL_RECHECK_SECONDS", 5) if max_age is None else max_age)
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
        # Once per load: what is loaded now stays out of the cyclic collector's reach, so a
        # full collection does not land inside a decision and multiply its tail latency.
        _gc_settle()
        return _loaded


def _gc_settle() -> None:
    """Collect garbage, then put everything alive out of the cyclic collector's reach (it is
    still freed when nothing refers to it)."""
    gc.collect()
    gc.freeze()


@contextmanager
def gc_frozen() -> Iterator[None]:
    """Run the body with what is alive now out of the cyclic collector's reach.

    A planning run allocates many objects that outlive a young collection, and every so many
    of them Python scans its whole heap again, which in a worker with Django, Wagtail and
    scikit-learn loaded is a large heap: a noticeable share of the planner's CPU per account
    (docs/benchmarks.md, Messaging). Frozen, a full collection scans only what was allocated
    since. Unfrozen at the end, so reference cycles among what
    was frozen are still collected later.
    """
    _gc_settle()
    try:
        yield
    finally:
        gc.unfreeze()


def policy_forget() -> None:
    """Drop this process's loaded model and cached live id (after a promotion; tests)."""
    global _loaded, _loaded_id, _checked_at
    with _lock:
        _loaded, _loaded_id, _checked_at = None, None, 0.0
    cache.delete(LIVE_CACHE_KEY)


# --- planning -------------------------------------------------------------------------------


@dataclass
class PlanResult:
    """What one planning run did."""

    scanned: int = 0
    due: int = 0
    without_candidates: int = 0
    planned: int = 0
    blocked: int = 0
    existing: int = 0
    by_arm: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def describe(self) -> str:
        """One line for the log, e.g. `145 of 168 scanned due, 145 planned (policy 127, ...)`."""
        arms = ", ".join(f"{arm} {n}" for arm, n in sorted(self.by_arm.items()))
        return (
            f"{self.due} of {self.scanned} scanned due, {self.planned} planned"
            + (f" ({arms})" if arms else "")
            + f", {self.blocked} blocked, {self.without_candidates} without candidates, "
            f"{self.existing} already planned, {self.seconds:.2f} s"
        )


def candidates_build(
    *,
    due: Sequence[selectors.DueAccount],
    now: datetime,
    variants: Sequence[Any],
) -> list[list[Candidate]]:
    """Every (live variant, send time) each due account may receive, compliance-checked.

    Variants must match the stage, the debtor's language and region (messaging's
    `variants_eligible`), on a channel the debtor can be reached on, has not opted out of
    and (when set) prefers; times are the next start of each send-hour bucket inside the
    debtor's preferred hours. One `contacts_check_many` call (no audit rows: the pick is
    checked again, audited, by `message_send`) drops what compliance blocks.
    """
    # Accounts with the same stage, language, region, reachable channels, time zone and
    # preferred hours share one candidate template: (channel, bucket) -> (time, candidates).
    Template = dict[tuple[str, int], tuple[datetime, list[Candidate]]]
    templates: dict[tuple, Template] = {}
    per_account: list[Template] = []
    checks: list[compliance.CheckRequest] = []
    check_index: dict[tuple[int, str, datetime], int] = {}
    for item in due:
        account, debtor = item.account, item.account.debtor
        channels = tuple(
            ch
            for ch in F.CHANNELS
            if (not debtor.preferred_channel or debtor.preferred_channel == ch)
            and messaging.precheck(account=account, channel=ch, stage=item.stage) is None
        )
        preferred = (debtor.preferred_hours_start, debtor.preferred_hours_end)
        key = (item.stage, debtor.language, debtor.region, channels, debtor.timezone, preferred)
        template = templates.get(key)
        if template is None:
            template = templates[key] = _template(
                stage=item.stage, debtor=debtor, channels=channels, preferred=preferred,
                now=now, variants=variants,
            )  # fmt: skip
        per_account.append(template)
        for channel, _bucket in template:
            at = template[(channel, _bucket)][0]
            ck = (debtor.pk, channel, at)
            if ck not in check_index:
                check_index[ck] = len(checks)
                checks.append(
                    compliance.CheckRequest(
                        debtor=debtor, channel=channel, at=at, account=account, purpose="plan"
                    )
                )
    allowed: dict[tuple[int, str, datetime], bool] = {}
    if checks:
        results = compliance.contacts_check_many(checks=checks, audit=False)
        allowed = {key: results[i].allowed for key, i in check_index.items()}
    out: list[list[Candidate]] = []
    for item, template in zip(due, per_account, strict=True):
        cands: list[Candidate] = []
        for (channel, _bucket), (at, group) in template.items():
            if allowed.get((item.account.debtor_id, channel, at)):
                cands.extend(group)
        out.append(cands)
    return out


def _template(
    *,
    stage: str,
    debtor: Any,
    channels: tuple[str, ...],
    preferred: tuple[Any, Any],
    now: datetime,
    variants: Sequence[Any],
) -> dict[tuple[str, int], tuple[datetime, list[Candidate]]]:
    """The candidates of one kind of account, grouped by (channel, bucket) with their time."""
    pool = messaging_selectors.variants_eligible(
        stage=stage,
        language=debtor.language,
        region=debtor.region,
        channels=channels,
        variants=variants,
    )
    template: dict[tuple[str, int], tuple[datetime, list[Candidate]]] = {}
    times: dict[tuple[str, int], datetime | None] = {}
    for variant in pool:
        for bucket in F.buckets_for(variant.channel):
            key = (variant.channel, bucket)
            if key not in times:
                times[key] = F.bucket_send_time(
                    bucket=bucket,
                    timezone_name=compliance.debtor_zone(debtor)[0],
                    now=now,
                    preferred=preferred,
                )
            at = times[key]
            if at is None:
                continue
            group = template.setdefault(key, (at, []))[1]
            group.append(
                Candidate(variant, variant.channel, bucket, at, F.archetype_of(variant, bucket))
            )
    return template


def _slot(account: Account, now: datetime) -> str:
    """One planned message per account per local day of the debtor."""
    local = now.astimezone(compliance.debtor_zone(account.debtor)[1])
    return f"plan:{local.date().isoformat()}"


def _rng_for(now: datetime, first_id: int) -> np.random.Generator:
    seed = setting("RECOMMENDER_RANDOM_SEED", None)
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng([int(seed), int(now.timestamp()) // 3600, first_id])


def plan_contacts(
    *,
    now: datetime | None = None,
    batch_size: int | None = None,
    limit: int | None = None,
    actor: str = "system:planner",
    part: int = 0,
    parts: int = 1,
) -> PlanResult:
    """Plan the next message of every account due a contact (the hourly job).

    Per batch of accounts: a constant number of queries to find who is due, build their
    context vectors and candidates and check compliance; then one `messages_send` call and
    one bulk insert of the decision log, in one transaction per batch.

    `part`/`parts`: plan only the debtors whose id is `part` modulo `parts`, so that `parts`
    planners (one per worker, `plan_parts()`) share the work without sharing a debtor. Give
    them all the same `now`, so they agree on the debtors' planning day.
    """
    with gc_frozen():
        return _plan_contacts(
            now=now, batch_size=batch_size, limit=limit, actor=actor, part=part, parts=parts
        )


def _plan_contacts(
    *,
    now: datetime | None,
    batch_size: int | None,
    limit: int | None,
    actor: str,
    part: int,
    parts: int,
) -> PlanResult:
    started = time.perf_counter()
    now = now or timezone.now()
    batch_size = int(batch_size or setting("RECOMMENDER_PLAN_BATCH", 500))
    control_share = float(setting("RECOMMENDER_CONTROL_SHARE", 0.10))
    variants = list(messaging_selectors.variants_live())
    model = policy_live()
    result = PlanResult()
    # Statistics first: without them PostgreSQL reads every account for each page.
    table_analyze(Account, when_stale=True)
    after = 0
    while True:
        page = selectors.accounts_due(
            now=now, after_id=after, limit=batch_size, part=part, parts=parts
        )
        if page.last_id is None:
            break
        after = page.last_id
        result.scanned += page.scanned
        due = page.due
        if limit is not None:
            due = due[: max(0, limit - result.due)]
        if due:
            result.due += len(due)
            _plan_batch(
                due=due,
                now=now,
                variants=variants,
                model=model,
                control_share=control_share,
                actor=actor,
                result=result,
            )
            messaging.outbox_statistics_refresh(when_stale=True)  # as the outbox grows
        if limit is not None and result.due >= limit:
            break
    if result.planned >= int(setting("RECOMMENDER_STATISTICS_AFTER", 1000)):
        messaging.outbox_statistics_refresh()  # the dispatcher's claim plans with them
    result.seconds = round(time.perf_counter() - started, 3)
    log.info("plan_contacts: %s", result.describe())
    return result


def plan_parts() -> int:
    """How many planners the hourly job runs side by side (`RECOMMENDER_PLAN_PARTS`)."""
    return max(1, int(setting("RECOMMENDER_PLAN_PARTS", 1)))


def _plan_batch(
    *,
    due: list[selectors.DueAccount],
    now: datetime,
    variants: list[Any],
    model: LoadedModel | None,
    control_share: float,
    actor: str,
    result: PlanResult,
) -> None:
    cands = candidates_build(due=due, now=now, variants=variants)
    keep = [i for i, c in enumerate(cands) if c]
    result.without_candidates += len(due) - len(keep)
    if not keep:
        return
    due = [due[i] for i in keep]
    cands = [cands[i] for i in keep]
    X = F.contexts_build(
        accounts=[d.account for d in due], stages={d.account.pk: d.stage for d in due}, now=now
    )
    choices = choose(
        X=X,
        candidates=cands,
        model=model,
        control_share=control_share,
        rng=_rng_for(now, due[0].account.pk),
    )
    requests, picked = [], []
    for item, choice, x in zip(due, choices, X, strict=True):
        if choice is None:
            continue
        requests.append(
            messaging.SendRequest(
                account=item.account,
                variant=choice.candidate.variant,
                planned_at=choice.candidate.at,
                slot=_slot(item.account, now),
                stage=item.stage,
                arm=choice.arm,
                propensity=choice.propensity,
                model_version=choice.model_label,
                explanation=choice.explanation,
            )
        )
        picked.append((item, choice, x))
    with transaction.atomic():
        messages = messaging.messages_send(requests=requests, actor=actor)
        rows = []
        for (item, choice, x), message in zip(picked, messages, strict=True):
            if not message.created_now:  # the slot was already planned: a re-run
                result.existing += 1
                continue
            if message.status == MessageStatus.BLOCKED:
                result.blocked += 1
                continue
            result.planned += 1
            result.by_arm[choice.arm] = result.by_arm.get(choice.arm, 0) + 1
            rows.append(_decision_row(item, choice, message, x, now, model))
        bulk_insert(Decision, rows)


def _decision_row(
    item: selectors.DueAccount,
    choice: Choice,
    message: Any,
    x: np.ndarray,
    now: datetime,
    model: LoadedModel | None,
) -> Decision:
    return Decision(
        message_id=message.pk,
        account_id=item.account.pk,
        debtor_id=item.account.debtor_id,
        decided_at=now,
        arm=choice.arm,
        model_version_id=model.id if model is not None else None,
        feature_version=F.FEATURE_VERSION,
        stage=item.stage,
        action=choice.candidate.action,
        propensity=choice.action_propensity,
        candidates=choice.n_candidates,
        context=Decision.pack_context(x),
        eligible=Decision.pack_eligible(choice.eligible),
    )


# --- retraining and promotion ---------------------------------------------------------------


class RetrainSkipped(DomainError):
    """Not enough logged decisions to train on."""


def learner_config() -> learning.LearnerConfig | None:
    """The learner's knobs from RECOMMENDER_LEARNER_CONFIG (a dict of `LearnerConfig` fields;
    empty: the learner's tuned defaults)."""
    overrides = setting("RECOMMENDER_LEARNER_CONFIG", {}) or {}
    if not overrides:
        return None
    known = {f.name for f in dataclasses.fields(learning.LearnerConfig)}
    unknown = sorted(set(overrides) - known) if isinstance(overrides, dict) else overrides
    if unknown:
        raise ImproperlyConfigured(
            f"RECOMMENDER_LEARNER_CONFIG must be a dict of LearnerConfig fields; unknown: "
            f"{unknown!r}. Known fields: {', '.join(sorted(known))}."
        )
    # Grids are tuples in the (frozen) config; settings may spell them as lists.
    return learning.LearnerConfig(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    )


def _evaluate(
    *,
    policy: learning.Policy,
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
    n = holdout.n
    live_rows = np.ones(n, dtype=bool)
    if live is not None and live_since is not None:
        unseen = holdout.decided_at > live_since
        # Rows the live model was not trained on, when there are enough of them.
        if unseen.sum() >= int(setting("RECOMMENDER_MIN_LIVE_COMPARISON_ROWS", 200)):
            live_rows = unseen
    cand_t, unif_t, live_t, cand_l = [], [], [], []
    cand_p, unif_p, pred = [], [], []
    for lo in range(0, n, chunk):
        part = holdout.take(np.arange(lo, min(n, lo + chunk)))
        idx = np.arange(part.n)
        T = policy.probabilities(part.X, eligible=part.eligible, explore=False)
        U = part.eligible / part.eligible.sum(axis=1, keepdims=True)
        Q = policy.expected_rewards(part.X)
        args = (part.rewards, part.actions, part.propensities)
        cand_t.append(evaluation.dr_terms(*args, T, Q))
        unif_t.append(evaluation.dr_terms(*args, U, Q))
        cand_p.append(T[idx, part.actions])
        unif_p.append(U[idx, part.actions])
        pred.append(Q[idx, part.actions] / max(policy.reward_scale, 1e-12))
        if live is not None:
            sel = live_rows[lo : lo + part.n]
            if sel.any():
                sub = part.take(np.flatnonzero(sel))
                L = live.policy.probabilities(sub.X, eligible=sub.eligible, explore=False)
                sargs = (sub.rewards, sub.actions, sub.propensities)
                live_t.append(evaluation.dr_terms(*sargs, L, Q[sel]))
                cand_l.append(evaluation.dr_terms(*sargs, T[sel], Q[sel]))
    cand, unif = np.concatenate(cand_t), np.concatenate(unif_t)
    vs_random = evaluation.paired_difference(cand, unif)
    snips = evaluation.snips_difference(
        holdout.rewards, holdout.propensities, np.concatenate(cand_p), np.concatenate(unif_p)
    )
    y = holdout.rewards > 0
    metrics: dict[str, Any] = {
        "estimator": "doubly robust (paired); SNIPS against random alongside",
        "holdout_rows": n,
        "holdout_log_loss": evaluation.log_loss(y, np.concatenate(pred)),
        "holdout_base_log_loss": evaluation.log_loss(y, np.full(n, max(1e-6, float(y.mean())))),
        "logged_value": float(holdout.rewards.mean()),
        "value": vs_random.value_a,
        "vs_random": vs_random.as_dict(),
        "snips_vs_random": snips.as_dict(),
        "vs_live": None,
    }
    if live is not None and live_t:
        vs_live = evaluation.paired_difference(np.concatenate(cand_l), np.concatenate(live_t))
        metrics["vs_live"] = {"model": live.label, **vs_live.as_dict()}
    return metrics


def model_retrain(
    *,
    actor: str = "system",
    now: datetime | None = None,
    promote: bool = True,
    random_state: int = 0,
) -> ModelVersion:
    """Train a candidate from the decision logs, evaluate it, and promote it if not worse.

    Reads the newest RECOMMENDER_TRAIN_MAX_ROWS decisions whose messages went out at least
    RECOMMENDER_REWARD_DELAY_DAYS ago (so conversions had time to be attributed), in chunks of
    RECOMMENDER_TRAIN_CHUNK rows. The oldest 80% train the model; the newest 20% evaluate it
    off-policy (SNIPS) against uniform random and against the live model. Raises
    `RetrainSkipped` below RECOMMENDER_MIN_TRAIN_ROWS rows.
    """
    now = now or timezone.now()
    delay = timedelta(days=float(setting("RECOMMENDER_REWARD_DELAY_DAYS", 7)))
    logs = selectors.decision_logs(
        until=now - delay,
        max_rows=int(setting("RECOMMENDER_TRAIN_MAX_ROWS", 200_000)),
        chunk=int(setting("RECOMMENDER_TRAIN_CHUNK", 5_000)),
        click_reward=float(setting("RECOMMENDER_CLICK_REWARD", 0.0)),
    )
    minimum = int(setting("RECOMMENDER_MIN_TRAIN_ROWS", 500))
    if logs.n < minimum:
        raise RetrainSkipped(f"{logs.n} logged decisions; at least {minimum} are needed.")
    cut = int(logs.n * (1 - float(setting("RECOMMENDER_HOLDOUT_SHARE", 0.2))))
    train, holdout = logs.take(np.arange(cut)), logs.take(np.arange(cut, logs.n))
    started = time.perf_counter()
    policy = learning.fit_policy(
        train.X,
        train.actions,
        train.rewards,
        train.propensities,
        n_actions=F.N_ACTIONS,
        action_features=F.action_features(),
        random_state=random_state,
        config=learner_config(),
    )
    fit_seconds = time.perf_counter() - started
    live = policy_live(max_age=0)
    # Only the live model's data horizon: its artifact is already loaded in `live`.
    live_until = (
        ModelVersion.objects.filter(pk=live.id).values_list("data_until", flat=True).first()
        if live
        else None
    )
    live_since = live_until.timestamp() if live_until else None
    metrics = _evaluate(policy=policy, holdout=holdout, live=live, live_since=live_since)
    metrics.update(
        fit_seconds=round(fit_seconds, 2),
        train_rows=train.n,
        conversions=int((train.rewards > 0).sum()),
        context_summary=F.summarise_contexts(train.X),
    )
    artifact = policy.to_bytes()
    with transaction.atomic():
        model = ModelVersion.objects.create(
            label=f"m{now:%Y%m%d%H%M%S}-{hashlib.sha256(artifact).hexdigest()[:8]}",
            feature_version=F.FEATURE_VERSION,
            n_actions=F.N_ACTIONS,
            n_features=F.N_FEATURES,
            trained_at=now,
            rows_used=train.n,
            data_from=datetime.fromtimestamp(float(train.decided_at[0]), tz=UTC)
            if train.n
            else None,
            data_until=datetime.fromtimestamp(float(train.decided_at[-1]), tz=UTC)
            if train.n
            else None,
            metrics=_json_safe(metrics),
            artifact=artifact,
            artifact_sha256=hashlib.sha256(artifact).hexdigest(),
            created_by=actor[:100],
        )
    if promote:
        model = model_promote_if_better(model=model, actor=actor)
    return model


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

    Compared on the same holdout rows (`metrics.vs_live`: the paired doubly robust difference
    candidate - live with its 95% interval). The candidate is rejected when the whole interval
    lies below -RECOMMENDER_PROMOTION_TOLERANCE (default 0): it is then worse beyond the
    noise. Otherwise the fresher model goes live, which keeps up with a changing population
    instead of holding on to a model that merely looked better by chance. A live model of
    another feature version cannot be compared and is replaced.
    """
    vs_live = (model.metrics or {}).get("vs_live")
    tolerance = float(setting("RECOMMENDER_PROMOTION_TOLERANCE", 0.0))
    if vs_live and vs_live.get("upper") is not None and vs_live["upper"] < -tolerance:
        with transaction.atomic():
            locked = ModelVersion.objects.select_for_update().defer("artifact").get(pk=model.pk)
            locked.transition(
                ModelStatus.REJECTED,
                reason=f"Worse than the live model: value {vs_live['value_a']:.4f} against "
                f"{vs_live['value_b']:.4f}, difference interval up to {vs_live['upper']:+.4f}.",
            )
            locked.save(update_fields=["status", "status_reason"])
        return locked
    return model_promote(model=model, actor=actor, reason="Not worse than the live model.")


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
            old.transition(ModelStatus.RETIRED, reason=f"Replaced by {locked.label} ({actor}).")
            old.save(update_fields=["status", "status_reason", "retired_at", "promoted_at"])
        locked.transition(ModelStatus.LIVE, reason=(reason or f"Promoted by {actor}.")[:300])
        locked.save(update_fields=["status", "status_reason", "promoted_at", "retired_at"])
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


# --- typologies -----------------------------------------------------------------------------


def typology_refresh(
    *,
    debtor_ids: Iterable[int] | None = None,
    now: datetime | None = None,
    batch_size: int = 2000,
) -> int:
    """Recompute the typology of the given debtors (default: every debtor with an open
    account); returns how many were written. Constant queries per batch; idempotent."""
    now = now or timezone.now()
    if debtor_ids is None:
        ids = list(
            Account.objects.filter(status__in=list(OPEN_STATUSES))
            .values_list("debtor_id", flat=True)
            .distinct()
            .order_by("debtor_id")
        )
    else:
        ids = sorted(set(debtor_ids))
    written = 0
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        inputs = typology_inputs(debtor_ids=chunk, now=now)
        rows = []
        for debtor_id in chunk:
            t = typology_score(inputs[debtor_id])
            rows.append(
                DebtorTypology(
                    debtor_id=debtor_id,
                    willing=t.willing,
                    able=t.able,
                    organised=t.organised,
                    emotional=t.emotional,
                    confidence=t.confidence,
                    code=t.code,
                    evidence=t.evidence,
                    updated_at=now,
                )
            )
        with transaction.atomic():
            DebtorTypology.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["debtor"],
                update_fields=[
                    "willing", "able", "organised", "emotional", "confidence", "code",
                    "evidence", "updated_at",
                ],
            )  # fmt: skip
        written += len(rows)
    return written
