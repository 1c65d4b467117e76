"""The contact planner: who is due, what each may receive, and the pick (the hourly job).

Accounts due a contact -> locked and read whole, in the batch's transaction -> candidates
(live variants x send times the debtor allows) -> compliance drops the blocked ones -> the
policy picks one -> `messaging.services.messages_send` (with the accounts already locked) and
the decision rows, in the same transaction. Safe to run twice or to kill half-way: a
message's (account, slot) is unique and the slot is the debtor's local planning day, so a
re-run finds the message instead of planning another.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from accounts.bulk import bulk_insert
from accounts.models import Account
from accounts.selectors import accounts_lock
from accounts.statistics import table_analyze
from compliance import services as compliance
from messaging import selectors as messaging_selectors
from messaging import services as messaging
from messaging.models import MessageStatus
from recommender import features as F
from recommender import selectors
from recommender.live import policy_live
from recommender.models import Decision
from recommender.policy import Candidate, Choice, LoadedModel, choose
from recommender.selectors import DueAccount

log = logging.getLogger(__name__)


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
    due: Sequence[DueAccount],
    now: datetime,
    variants: Sequence[Any],
) -> list[list[Candidate]]:
    """Every (live variant, send time) each due account may receive, compliance-checked.

    Variants must match the stage, the debtor's language and region (messaging's
    `variants_eligible`), on a channel the debtor can be reached on, has not opted out of
    and (when set) prefers; times are the next start of each send-hour bucket inside the
    debtor's preferred hours. One `contacts_allowed_many` call (yes or no, no audit rows: the
    pick is checked again, audited, by `message_send`) drops what compliance blocks.
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
    answers = compliance.contacts_allowed_many(checks=checks)
    allowed = {key: answers[i] for key, i in check_index.items()}
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
    seed = settings.RECOMMENDER_RANDOM_SEED
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
    creditor_ids: Sequence[int] | None = None,
) -> PlanResult:
    """Plan the next message of every account due a contact (the hourly job).

    Per batch: a constant number of queries to find who is due; then, in one transaction,
    one to lock and read the due ones whole, a constant number for their contexts,
    candidates and compliance, one `messages_send` call and one insert of the decisions.

    `part`/`parts`: plan only the debtors whose id is `part` modulo `parts`, so that `parts`
    planners (one per worker, `plan_parts()`) share the work without sharing a debtor. Give
    them all the same `now`, so they agree on the debtors' planning day. `creditor_ids`: only
    those creditors' accounts (None: every creditor's, as the hourly job does)."""
    started, only = time.perf_counter(), creditor_ids
    now = now or timezone.now()
    batch_size = int(batch_size or settings.RECOMMENDER_PLAN_BATCH)
    shares = arm_shares()
    variants = list(messaging_selectors.variants_live())
    model = policy_live()
    result = PlanResult()
    # Statistics first: without them PostgreSQL reads every account for each page.
    table_analyze(Account, when_stale=True)
    after = 0
    while True:
        page = selectors.accounts_due(
            now=now, after_id=after, limit=batch_size, part=part, parts=parts, creditor_ids=only
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
                shares=shares,
                actor=actor,
                result=result,
            )
            messaging.outbox_statistics_refresh(when_stale=True)  # as the outbox grows
        if limit is not None and result.due >= limit:
            break
    if result.planned >= int(settings.RECOMMENDER_STATISTICS_AFTER):
        messaging.outbox_statistics_refresh()  # the dispatcher's claim plans with them
    result.seconds = round(time.perf_counter() - started, 3)
    log.info("plan_contacts: %s", result.describe())
    return result


def arm_shares() -> tuple[float, float]:
    """The control arm's and the send-time arm's shares of decisions (settings
    RECOMMENDER_CONTROL_SHARE, RECOMMENDER_SEND_TIME_SHARE); `ImproperlyConfigured` unless
    each is in [0, 1) and the policy arm keeps a share."""
    control = float(settings.RECOMMENDER_CONTROL_SHARE)
    timed = float(settings.RECOMMENDER_SEND_TIME_SHARE)
    if not (0 <= control < 1 and 0 <= timed < 1 and control + timed < 1):
        raise ImproperlyConfigured(
            f"RECOMMENDER_CONTROL_SHARE ({control}) and RECOMMENDER_SEND_TIME_SHARE ({timed}) "
            "must each be at least 0 and together below 1: the policy arm needs a share."
        )
    return control, timed


def plan_parts() -> int:
    """How many planners the hourly job runs side by side (`RECOMMENDER_PLAN_PARTS`)."""
    return max(1, int(settings.RECOMMENDER_PLAN_PARTS))


def _plan_batch(
    *,
    due: list[DueAccount],
    now: datetime,
    variants: list[Any],
    model: LoadedModel | None,
    shares: tuple[float, float],  # the control arm's and the send-time arm's
    actor: str,
    result: PlanResult,
) -> None:
    # The due accounts are locked and read whole first, in the transaction that plans them:
    # the candidates, the contexts and the send all see them as they are now, and the send
    # does not read them again. A payment or an opt-out for one of them waits for the batch.
    with transaction.atomic():
        locked = accounts_lock(d.account for d in due)
        # An account deleted since the scan is left out.
        due = [DueAccount(locked[d.account.pk], d.stage) for d in due if d.account.pk in locked]
        _plan_locked(
            due=due, locked=locked, now=now, variants=variants, model=model, shares=shares,
            actor=actor, result=result,
        )  # fmt: skip


def _plan_locked(
    *,
    due: list[DueAccount],
    locked: dict[int, Account],
    now: datetime,
    variants: list[Any],
    model: LoadedModel | None,
    shares: tuple[float, float],
    actor: str,
    result: PlanResult,
) -> None:
    """Candidates, contexts, the picks, the messages and the decision rows of a locked batch
    (in the caller's transaction)."""
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
        control_share=shares[0],
        send_time_share=shares[1],
        rng=_rng_for(now, due[0].account.pk),
    )
    picked = [(d, c, x) for d, c, x in zip(due, choices, X, strict=True) if c is not None]
    requests = [_send_request(item, choice, now) for item, choice, _x in picked]
    messages = messaging.messages_send(requests=requests, actor=actor, locked=locked)
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


def _send_request(item: DueAccount, choice: Choice, now: datetime) -> messaging.SendRequest:
    return messaging.SendRequest(
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


def _decision_row(
    item: DueAccount,
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
