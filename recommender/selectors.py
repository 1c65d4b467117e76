"""Reads of the recommender: who is due a contact, the decision logs, the uplift report.

- `accounts_due`: accounts due a message now, with their journey stage (cadence per stage,
  per-debtor daily and weekly budgets), in keyset-paged batches: a constant number of
  queries per batch. The accounts carry only the fields that decided it: the planner reads
  them whole when it locks them.
- `decision_logs`: the learner's training rows, streamed in chunks (bounded memory).
- `uplift_report`: per-arm rates with Wilson intervals, the relative uplift of the policy arm
  over the random control (with the sends per arm it needs before it means anything), and the
  off-policy value of the live model against random.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Count, IntegerField, Max, Min, Q, QuerySet
from django.db.models.functions import Mod
from django.utils import timezone

from accounts.models import (
    OPEN_INSTALLMENT_STATUSES,
    Account,
    AccountStatus,
    Installment,
    PlanStatus,
)
from messaging.models import Message, MessageStatus
from recommender import evaluation
from recommender import features as F
from recommender.live import policy_live
from recommender.models import Decision, ModelStatus, ModelVersion

STAGE_CADENCE_DAYS: dict[str, float] = {
    "first_contact": 0,
    "early": 3,
    "mid": 5,
    "late": 7,
    "plan_reminder": 4,
    "missed_instalment": 3,
    "pause_ending": 7,
}
"""Default days between messages per stage (setting RECOMMENDER_CADENCE_DAYS overrides)."""

NOT_CONTACTS = (MessageStatus.CANCELLED, MessageStatus.BLOCKED, MessageStatus.FAILED)


def cadence_days() -> dict[str, float]:
    return {**STAGE_CADENCE_DAYS, **settings.RECOMMENDER_CADENCE_DAYS}


@dataclass(frozen=True, slots=True)
class StageRules:
    """Journey-stage boundaries (days since placement) and notice periods."""

    early_until: int = 21
    mid_until: int = 45
    reminder_days: int = 3
    pause_notice_days: int = 3


def stage_rules() -> StageRules:
    return StageRules(**settings.RECOMMENDER_STAGE_RULES)


def journey_stage(
    *,
    account: Account,
    today: date,
    now: datetime,
    last_planned: datetime | None,
    next_instalment_due: date | None,
    rules: StageRules,
    cadence: dict[str, float],
) -> str | None:
    """The stage an account is due a message in now, or None when it is not due.

    - paused (status, or `paused_until` still ahead): only the pause-ending notice, once, in
      the last `pause_notice_days` before the pause ends;
    - in a plan: a reminder once before each instalment, or missed-instalment messages
      (cadence) while an instalment is overdue;
    - active: the first contact, then early / mid / late by days since placement, each with
      its cadence.
    """
    since_last = (now - last_planned).total_seconds() / 86400 if last_planned else None
    paused = account.status == AccountStatus.PAUSED or (
        account.paused_until is not None and account.paused_until >= today
    )
    if paused:
        end = account.paused_until
        if end is None or not 0 <= (end - today).days <= rules.pause_notice_days:
            return None
        window_start = end - timedelta(days=rules.pause_notice_days + 1)
        if last_planned is not None and last_planned.date() >= window_start:
            return None
        return "pause_ending"
    if account.status == AccountStatus.IN_PLAN:
        if next_instalment_due is None:
            return None
        if next_instalment_due < today:
            stage = "missed_instalment"
        elif (next_instalment_due - today).days <= rules.reminder_days:
            window_start = next_instalment_due - timedelta(days=rules.reminder_days + 1)
            if last_planned is not None and last_planned.date() >= window_start:
                return None
            return "plan_reminder"
        else:
            return None
    elif account.status == AccountStatus.ACTIVE:
        if last_planned is None:
            return "first_contact"
        age = (now - account.placed_at).days
        stage = "early" if age < rules.early_until else "mid" if age < rules.mid_until else "late"
    else:
        return None
    if since_last is not None and since_last < cadence.get(stage, 7):
        return None
    return stage


@dataclass(slots=True)
class DueAccount:
    account: Account
    stage: str


@dataclass(slots=True)
class DueBatch:
    """One keyset page: the due accounts in it and where the next page starts."""

    due: list[DueAccount]
    last_id: int | None
    scanned: int


def accounts_due(
    *,
    now: datetime,
    after_id: int = 0,
    limit: int = 500,
    part: int = 0,
    parts: int = 1,
    creditor_ids: Sequence[int] | None = None,
) -> DueBatch:
    """Accounts with ids after `after_id` that are due a message now (one page of `limit`
    open accounts scanned). Four queries per page, whatever its size (five with parts), each
    account with only the fields that decide whether it is due (`_DUE_FIELDS`) and its
    debtor's id: the planner locks the due ones and reads them whole (`accounts_lock`) in
    the transaction that plans them.

    With `parts` > 1, only the accounts of debtors whose id is `part` modulo `parts`: planners
    running side by side on different parts never share a debtor, so each one's per-debtor
    budgets and compliance counts stay whole. `creditor_ids`: only those creditors' accounts
    (the demo history plans its own creditor's debtors only)."""
    if not 0 <= part < parts:
        raise ValueError(f"part must be in [0, {parts}); got {part}")
    page, end = _open_accounts_page(
        after_id=after_id, limit=limit, part=part, parts=parts, creditor_ids=creditor_ids
    )
    if not page:
        # None of this part's accounts in the window: go on after it, if there is more.
        return DueBatch([], end, 0)
    due = _due_in_page(page, now=now)
    # A short page of a part has read its window to the end.
    last_id = end if end is not None and len(page) < limit else page[-1].pk
    return DueBatch(due, last_id, len(page))


def _open_accounts_page(
    *, after_id: int, limit: int, part: int, parts: int, creditor_ids: Sequence[int] | None = None
) -> tuple[list[Account], int | None]:
    """The next `limit` open accounts (of this part) after `after_id`, with only the fields
    that decide whether they are due (`_DUE_FIELDS`); and, with parts, the last key of the
    window the page was taken from."""
    open_accounts = Account.objects.filter(
        pk__gt=after_id,
        status__in=[AccountStatus.ACTIVE, AccountStatus.IN_PLAN, AccountStatus.PAUSED],
    )
    if creditor_ids is not None:
        open_accounts = open_accounts.filter(creditor_id__in=list(creditor_ids))
    end = None
    if parts > 1:
        # The page ends at the (limit x parts)-th open account, whichever part it is in: a
        # bound on the key, read off its index. PostgreSQL has no statistics for
        # `debtor_id % parts` and guesses it keeps 0.5% of the rows, so asked for the first
        # `limit` of the part it read and sorted every remaining account, each page.
        end = open_accounts.order_by("pk").values_list("pk", flat=True)[limit * parts - 1 :].first()
        open_accounts = open_accounts.alias(
            debtor_part=Mod("debtor_id", parts, output_field=IntegerField())
        ).filter(debtor_part=part)
        if end is not None:
            open_accounts = open_accounts.filter(pk__lte=end)
    page = list(open_accounts.only(*_DUE_FIELDS).order_by("pk")[:limit])
    return page, end


_DUE_FIELDS = ("id", "debtor", "status", "paused_until", "placed_at")
"""What deciding whether an account is due reads (`journey_stage`, the debtor's budgets).
Most open accounts are not due in a given hour, so the page is read with these alone; the
planner reads the due ones whole, with their debtors, when it locks them."""


def _due_in_page(page: list[Account], *, now: datetime) -> list[DueAccount]:
    """The accounts of `page` due a message now, within their debtors' budgets (three
    queries: last planned message, next instalment, messages in the last day and week)."""
    ids = [a.pk for a in page]
    last = dict(
        Message.objects.filter(account_id__any=ids)
        .exclude(status__in=NOT_CONTACTS)
        .values("account_id")
        .annotate(last=Max("planned_at"))
        .order_by()
        .values_list("account_id", "last")
    )
    next_due = dict(
        Installment.objects.filter(
            plan__account_id__any=ids,
            plan__status=PlanStatus.ACTIVE,
            status__in=OPEN_INSTALLMENT_STATUSES,
        )
        .values("plan__account_id")
        .annotate(first=Min("due_date"))
        .order_by()
        .values_list("plan__account_id", "first")
    )
    budget = _budgets_used(debtor_ids=list({a.debtor_id for a in page}), now=now)
    daily = int(settings.RECOMMENDER_DAILY_BUDGET)
    weekly = int(settings.RECOMMENDER_WEEKLY_BUDGET)
    rules, cadence = stage_rules(), cadence_days()
    today = now.date()
    used: dict[int, int] = {}
    due: list[DueAccount] = []
    for account in page:
        day_n, week_n = budget.get(account.debtor_id, (0, 0))
        extra = used.get(account.debtor_id, 0)
        if day_n + extra >= daily or week_n + extra >= weekly:
            continue
        stage = journey_stage(
            account=account,
            today=today,
            now=now,
            last_planned=last.get(account.pk),
            next_instalment_due=next_due.get(account.pk),
            rules=rules,
            cadence=cadence,
        )
        if stage is None:
            continue
        used[account.debtor_id] = extra + 1
        due.append(DueAccount(account, stage))
    return due


def _budgets_used(*, debtor_ids: list[int], now: datetime) -> dict[int, tuple[int, int]]:
    """Messages planned or sent per debtor in the last 24 hours and 7 days (cancelled,
    blocked and failed ones do not count)."""
    day_ago, week_ago = now - timedelta(days=1), now - timedelta(days=7)
    return {
        row["debtor_id"]: (row["day"], row["week"])
        for row in Message.objects.filter(debtor_id__any=debtor_ids, planned_at__gt=week_ago)
        .exclude(status__in=NOT_CONTACTS)
        .values("debtor_id")
        .annotate(
            week=Count("id"),
            day=Count("id", filter=Q(planned_at__gt=day_ago)),
        )
        .order_by()
    }


# --- models ---------------------------------------------------------------------------------


def model_live() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=ModelStatus.LIVE).first()


# --- decision logs --------------------------------------------------------------------------


@dataclass
class Logs:
    """Decision logs as arrays (oldest first)."""

    X: np.ndarray
    actions: np.ndarray
    propensities: np.ndarray
    rewards: np.ndarray
    clicks: np.ndarray
    eligible: np.ndarray
    decided_at: np.ndarray  # POSIX seconds
    arms: np.ndarray  # True = control

    @property
    def n(self) -> int:
        return int(self.actions.shape[0])

    def take(self, idx: np.ndarray) -> Logs:
        return Logs(*(getattr(self, f.name)[idx] for f in fields(self)))


def _decisions_sent(*, until: datetime, since: datetime | None = None) -> QuerySet[Decision]:
    """Sent decisions of the current feature version decided up to `until` (and from
    `since`): the rows `decision_logs` reads and `decision_logs_count` counts."""
    qs = Decision.objects.filter(
        feature_version=F.FEATURE_VERSION, decided_at__lte=until, message__sent_at__isnull=False
    )
    return qs if since is None else qs.filter(decided_at__gte=since)


def decision_logs_count(*, until: datetime, newer_than: datetime | None = None) -> tuple[int, int]:
    """(rows, rows decided after `newer_than`; None: every row) that `decision_logs(until=
    until)` would read without its `max_rows` cap, in one query. The newest rows are read
    first, so with the cap it reads min(rows, cap) rows, min(newer, cap) of them newer."""
    newer = Count("id", filter=Q(decided_at__gt=newer_than)) if newer_than else Count("id")
    got = _decisions_sent(until=until).aggregate(rows=Count("id"), newer=newer)
    return got["rows"], got["newer"]


def _decision_rows(*, until: datetime, since: datetime | None, chunk: int) -> Iterator[list[tuple]]:
    """`_decisions_sent`, newest first, in keyset chunks."""
    qs = _decisions_sent(until=until, since=since)
    cursor: int | None = None
    while True:
        page = qs if cursor is None else qs.filter(pk__lt=cursor)
        rows = list(
            page.order_by("-pk").values_list(
                "pk",
                "decided_at",
                "action",
                "propensity",
                "context",
                "eligible",
                "arm",
                "message__converted_at",
                "message__clicked_at",
            )[:chunk]
        )
        if not rows:
            return
        yield rows
        cursor = rows[-1][0]


def decision_logs(
    *,
    until: datetime,
    since: datetime | None = None,
    max_rows: int = 200_000,
    chunk: int = 5_000,
    click_reward: float = 0.0,
) -> Logs:
    """The newest `max_rows` sent decisions up to `until`, read in chunks of `chunk` rows.

    Memory is bounded by `max_rows` (arrays are allocated once, float32 contexts); rows are
    never materialised as model instances, and each chunk becomes arrays in whole-chunk numpy
    calls. Reward: 1 if the message converted, else `click_reward` if it was clicked, else 0.
    """
    d, a = F.N_FEATURES, F.N_ACTIONS
    X = np.zeros((max_rows, d), dtype=np.float32)
    E = np.zeros((max_rows, a), dtype=bool)
    act = np.zeros(max_rows, dtype=np.int64)
    prop, clk, when = np.zeros(max_rows), np.zeros(max_rows), np.zeros(max_rows)
    conv, ctrl = np.zeros(max_rows, dtype=bool), np.zeros(max_rows, dtype=bool)
    n = 0
    for rows in _decision_rows(until=until, since=since, chunk=chunk):
        rows = rows[: max_rows - n]
        if not rows:
            break
        hi = n + len(rows)
        _pks, at, action, p, ctx, el, arm, converted, clicked = zip(*rows, strict=True)
        X[n:hi], E[n:hi] = Decision.unpack_contexts(ctx, d), Decision.unpack_eligibles(el, a)
        act[n:hi], prop[n:hi] = action, p
        when[n:hi] = [t.timestamp() for t in at]
        clk[n:hi] = [c is not None for c in clicked]
        conv[n:hi] = [c is not None for c in converted]
        ctrl[n:hi] = [g == "control" for g in arm]
        n = hi
        if n >= max_rows:
            break
    rew = np.where(conv[:n], 1.0, click_reward * clk[:n])
    # Oldest first; decisions of one planning run share a time, and among them the read order
    # (newest id first) is reversed, so the rows run in (decided_at, id) order.
    order = np.lexsort((-np.arange(n), when[:n]))
    logs = Logs(X[:n], act[:n], prop[:n], rew, clk[:n], E[:n], when[:n], ctrl[:n]).take(order)
    logs.X = logs.X.astype(np.float64)
    return logs


# --- the uplift report ----------------------------------------------------------------------


def _arm_counts(qs) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row in (
        qs.values("arm")
        .annotate(
            sent=Count("id"),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
            converted=Count("id", filter=Q(converted_at__isnull=False)),
        )
        .order_by()
    ):
        out[row["arm"]] = row
    return out


_RATES = (("open", "opened"), ("click", "clicked"), ("conversion", "converted"))
"""(rate, count) pairs of the report: `<rate>_rate` is `<count>` over the sends."""


def uplift_guard(
    metric: str,
    *,
    policy: evaluation.Rate,
    control: evaluation.Rate,
    share: float | None = None,
    arm_name: str = "control",
) -> dict[str, Any]:
    """Whether both arms have the sends a two-sided two-proportion test (alpha 0.05, power
    0.8) needs to detect `RECOMMENDER_UPLIFT_MIN_DETECTABLE` over the control's rate, split
    as `RECOMMENDER_CONTROL_SHARE` splits the traffic (or as `share`, the compared arm's share
    of the two arms' sends; `arm_name` names it in the message).

    The control's observed rate is the baseline once it has both a success and a failure;
    until then (0 of n, n of n, no sends) `RECOMMENDER_UPLIFT_BASELINE_RATE[metric]`."""
    observed = control.rate is not None and 0 < control.successes < control.trials
    baseline = control.rate if observed else settings.RECOMMENDER_UPLIFT_BASELINE_RATE[metric]
    share = float(settings.RECOMMENDER_CONTROL_SHARE) if share is None else share
    minimum = float(settings.RECOMMENDER_UPLIFT_MIN_DETECTABLE)
    size = evaluation.two_proportion_sample_size(
        baseline_rate=baseline,
        relative_uplift=minimum,
        # Without a control arm configured the split is unknown: plan for an even one.
        control_share=share if 0 < share < 1 else 0.5,
    )
    needed = {"policy": size.policy, "control": size.control}
    sent = {"policy": policy.trials, "control": control.trials}
    more = {arm: max(0, needed[arm] - sent[arm]) for arm in needed}
    enough = not any(more.values())
    message = None
    if not enough:
        message = (
            f"not enough data yet: {more['control']:,} more sends in the {arm_name} arm and "
            f"{more['policy']:,} in the policy arm to detect a {minimum:.0%} uplift"
        )
    return {
        "enough": enough,
        "needed_per_arm": needed,
        "more_per_arm": more,
        "baseline_rate": baseline,
        "baseline_observed": observed,
        "min_detectable": minimum,
        "message": message,
    }


def uplift_report(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    max_log_rows: int = 50_000,
    for_display: bool = False,
) -> dict[str, Any]:
    """Per arm: sends, open, click and conversion rates with 95% Wilson intervals; the
    relative uplift of the policy arm over the random control (delta-method interval); when
    the send-time arm has sends, the policy's uplift over it (`send_time_uplift`: what
    choosing the send hour is worth); and the self-normalised IPS value of the live model
    (exploit policy) against uniform random over the same logs, with a paired bootstrap
    interval of the difference.

    Each uplift also says whether the sample suffices (`uplift_guard`): `enough`,
    `needed_per_arm` and `more_per_arm` (sends), and a `message` when it does not.
    `for_display` (the `uplift_report` command, the admin page) withholds the value and
    interval of an uplift whose sample does not suffice; without it they stay, for callers
    that weigh the evidence themselves."""
    until = until or timezone.now()
    # Only the planner's decisions: a message sent for another reason (a fresh portal link
    # the debtor asked for, an operator's message) is in neither arm.
    qs = Message.objects.filter(sent_at__isnull=False, sent_at__lte=until, decision__isnull=False)
    if since is not None:
        qs = qs.filter(sent_at__gte=since)
    counts = _arm_counts(qs)
    arms: dict[str, Any] = {}
    rates: dict[str, dict[str, evaluation.Rate]] = {}
    for arm in ("policy", "control", "send_time"):
        c = counts.get(arm, {"sent": 0, "opened": 0, "clicked": 0, "converted": 0})
        rates[arm] = {metric: evaluation.wilson(c[key], c["sent"]) for metric, key in _RATES}
        arms[arm] = {
            "sent": c["sent"],
            **{f"{metric}_rate": rate.as_dict() for metric, rate in rates[arm].items()},
            "opened": c["opened"],
            "clicked": c["clicked"],
            "converted": c["converted"],
        }
    policy, control = rates["policy"], rates["control"]
    uplift = {
        metric: {
            **evaluation.relative_uplift(policy[metric], control[metric]).as_dict(),
            **uplift_guard(metric, policy=policy[metric], control=control[metric]),
        }
        for metric in ("conversion", "click")
    }
    send_time = _send_time_uplift(rates) if arms["send_time"]["sent"] else None
    if for_display:
        for u in [*uplift.values(), *(send_time or {}).values()]:
            if not u["enough"]:
                u.update(value=None, lower=None, upper=None)
    report: dict[str, Any] = {
        "since": since.isoformat() if since else None,
        "until": until.isoformat(),
        "arms": arms,
        "uplift": uplift,
        "send_time_uplift": send_time,
        "off_policy": off_policy_live_vs_random(since=since, until=until, max_rows=max_log_rows),
    }
    return report


def send_time_split(*, policy_sends: int, send_time_sends: int) -> float:
    """The send-time arm's share of the policy and send-time arms' traffic, as configured
    (`RECOMMENDER_SEND_TIME_SHARE` over what the control arm leaves), or as observed when the
    arm is switched off now but has sends in the period."""
    control = float(settings.RECOMMENDER_CONTROL_SHARE)
    timed = float(settings.RECOMMENDER_SEND_TIME_SHARE)
    if timed:
        return timed / (1 - control)
    return send_time_sends / max(1, policy_sends + send_time_sends)


def _send_time_uplift(rates: dict[str, dict[str, evaluation.Rate]]) -> dict[str, Any]:
    """The policy arm over the send-time arm (the same policy, its send hour drawn at random):
    what choosing the hour is worth, with the same minimum-sample guard, sized by the two
    arms' configured split (their observed split when the send-time arm is switched off)."""
    share = send_time_split(
        policy_sends=rates["policy"]["conversion"].trials,
        send_time_sends=rates["send_time"]["conversion"].trials,
    )
    return {
        metric: {
            **evaluation.relative_uplift(
                rates["policy"][metric], rates["send_time"][metric]
            ).as_dict(),
            **uplift_guard(
                metric,
                policy=rates["policy"][metric],
                control=rates["send_time"][metric],
                share=share,
                arm_name="send-time",
            ),
        }
        for metric in ("conversion", "click")
    }


def off_policy_live_vs_random(
    *, since: datetime | None, until: datetime, max_rows: int = 50_000
) -> dict[str, Any] | None:
    """SNIPS value of the live model's exploit policy and of uniform random from the logs."""
    loaded = policy_live()
    if loaded is None:
        return None
    logs = decision_logs(until=until, since=since, max_rows=max_rows)
    if logs.n == 0:
        return None
    live = np.empty(logs.n)
    for lo in range(0, logs.n, 5_000):  # bounded memory: (rows x actions) per chunk only
        hi = min(logs.n, lo + 5_000)
        P = loaded.policy.probabilities(logs.X[lo:hi], eligible=logs.eligible[lo:hi], explore=False)
        live[lo:hi] = P[np.arange(hi - lo), logs.actions[lo:hi]]
    if not (live > 0).any():
        # SNIPS weighs the rows whose logged action the model would pick: with none, there is
        # no estimate (not a NaN in the report).
        return {
            "model": loaded.label,
            "rows": logs.n,
            "note": "the live model would pick none of the logged actions: no estimate yet",
        }
    uniform = 1.0 / logs.eligible.sum(axis=1)
    diff = evaluation.snips_difference(logs.rewards, logs.propensities, live, uniform)
    return {"model": loaded.label, "rows": logs.n, **diff.as_dict()}


# --- typology evidence ----------------------------------------------------------------------
