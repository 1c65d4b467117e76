"""The recommender's numbers: debtor/account context vectors and the stable action space.

A model is trained on, and only ever used with, one `FEATURE_VERSION`: the context layout
(`CONTEXT_FEATURES`) and the action space (`ACTIONS`, `action_features()`) below. Change either
and bump the version; `ModelVersion.feature_version` then keeps old models from being applied
to vectors they do not understand.

The action space is a fixed grid of *archetypes* - (tone, call to action, channel, send-hour
bucket) - rather than the variant library itself, so what is learned survives editors adding,
retiring and rewording variants. A live variant maps to its archetype (`archetype_of`); the
policy picks an archetype and then one live variant of that archetype uniformly at random, and
the logged propensity includes that uniform step.

`contexts_build` computes the context of a whole batch of accounts with a constant number of
queries (one per aggregate, whatever the batch size): the planner's and the bench's hot path.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from django.db.models import Count, F, Max, Q, Sum
from django.utils import timezone

from accounts import regions
from accounts.models import MESSAGE_CHANNELS
from compliance.selectors import zone_get
from compliance.services import debtor_zone

FEATURE_VERSION = 1
"""Bump whenever CONTEXT_FEATURES, ACTIONS or action_features() change meaning or order."""

# --- the action space -----------------------------------------------------------------------

TONES: tuple[str, ...] = ("friendly", "empathetic", "formal", "firm", "other")
"""Tone families. A variant's tone slug maps to its family; admin-added tones map to `other`."""

CTAS: tuple[str, ...] = ("pay", "plan", "settle", "talk", "other")
"""Call-to-action families: what the message asks the debtor to do."""

_CTA_FAMILY: dict[str, str] = {
    "pay_in_full": "pay",
    "pay_instalment": "pay",
    "payment_plan": "plan",
    "settlement": "settle",
    "contact_us": "talk",
    "request_callback": "talk",
    "update_preferences": "other",
    "view_account": "other",
}
"""messaging's `CallToAction` values by family; an unknown one is `other`."""

CHANNELS: tuple[str, ...] = MESSAGE_CHANNELS
"""Channels a message can go out on, in the order the feature layout uses."""


@dataclass(frozen=True, slots=True)
class HourBucket:
    """A local send-time window [start, end) in whole hours."""

    name: str
    start: int
    end: int


HOUR_BUCKETS: tuple[HourBucket, ...] = (
    HourBucket("morning", 8, 11),
    HourBucket("midday", 11, 14),
    HourBucket("afternoon", 14, 17),
    HourBucket("evening", 17, 21),
)
"""Send-hour buckets in the debtor's local time. Letters only use the first (the post run),
so the action grid holds 5 tones x 5 CTA families x 13 (channel, bucket) pairs = 325 actions."""

LETTER_BUCKETS: tuple[int, ...] = (0,)


@dataclass(frozen=True, slots=True)
class Archetype:
    """One action of the learner: what kind of message, on which channel, at what time."""

    tone: str
    cta: str
    channel: str
    bucket: int

    @property
    def label(self) -> str:
        return f"{self.tone}/{self.cta}/{self.channel}/{HOUR_BUCKETS[self.bucket].name}"

    def as_dict(self) -> dict[str, str]:
        return {
            "tone": self.tone,
            "cta": self.cta,
            "channel": self.channel,
            "hour_bucket": HOUR_BUCKETS[self.bucket].name,
        }


def buckets_for(channel: str) -> tuple[int, ...]:
    """The send-hour buckets a channel can use."""
    return LETTER_BUCKETS if channel == "letter" else tuple(range(len(HOUR_BUCKETS)))


ACTIONS: tuple[Archetype, ...] = tuple(
    Archetype(tone, cta, channel, bucket)
    for tone in TONES
    for cta in CTAS
    for channel in CHANNELS
    for bucket in buckets_for(channel)
)
N_ACTIONS = len(ACTIONS)
_ACTION_INDEX: dict[Archetype, int] = {a: i for i, a in enumerate(ACTIONS)}

# Tone names that count as a family (slugs of the starter library and obvious synonyms).
_TONE_FAMILY: dict[str, str] = {
    "friendly": "friendly",
    "warm": "friendly",
    "casual": "friendly",
    "empathetic": "empathetic",
    "empathic": "empathetic",
    "supportive": "empathetic",
    "formal": "formal",
    "neutral": "formal",
    "firm": "firm",
    "urgent": "firm",
    "assertive": "firm",
}


def tone_family(slug: str) -> str:
    """The tone family of a tone slug or name (`other` when it is none of the known ones)."""
    return _TONE_FAMILY.get((slug or "").strip().lower(), "other")


def cta_family(cta: str) -> str:
    """The call-to-action family of a messaging `CallToAction` value."""
    return _CTA_FAMILY.get(cta, cta if cta in CTAS else "other")


def action_index(*, tone: str, cta: str, channel: str, bucket: int) -> int:
    """Index of the archetype (tone family, CTA family, channel, bucket) in `ACTIONS`."""
    return _ACTION_INDEX[Archetype(tone_family(tone), cta_family(cta), channel, bucket)]


def archetype_of(variant: Any, bucket: int) -> int:
    """Index of the archetype a live MessageVariant falls into when sent in `bucket`."""
    return action_index(
        tone=variant.tone.slug, cta=variant.cta, channel=variant.channel, bucket=bucket
    )


ACTION_FEATURE_NAMES: tuple[str, ...] = (
    *(f"tone={t}" for t in TONES),
    *(f"cta={c}" for c in CTAS),
    *(f"channel={c}" for c in CHANNELS),
    *(f"hour={b.name}" for b in HOUR_BUCKETS),
    *(f"channel={c}&hour={HOUR_BUCKETS[b].name}" for c in CHANNELS for b in buckets_for(c)),
    *(f"tone={t}&channel={c}" for t in TONES for c in CHANNELS),
)


@lru_cache(maxsize=1)
def action_features() -> np.ndarray:
    """One-hot description of every action, shape (N_ACTIONS, len(ACTION_FEATURE_NAMES)).

    Tone, CTA, channel, hour bucket, and the channel x hour and tone x channel pairs, so that
    "SMS in the evening" or "empathetic e-mail" is learned once and applies to every variant
    of that kind, including new ones with no logs yet.
    """
    index = {name: j for j, name in enumerate(ACTION_FEATURE_NAMES)}
    out = np.zeros((N_ACTIONS, len(ACTION_FEATURE_NAMES)))
    for i, a in enumerate(ACTIONS):
        hour = HOUR_BUCKETS[a.bucket].name
        for name in (
            f"tone={a.tone}",
            f"cta={a.cta}",
            f"channel={a.channel}",
            f"hour={hour}",
            f"channel={a.channel}&hour={hour}",
            f"tone={a.tone}&channel={a.channel}",
        ):
            out[i, index[name]] = 1.0
    out.setflags(write=False)
    return out


# --- the context ----------------------------------------------------------------------------

REGION_GROUPS: tuple[str, ...] = ("US", "CA", "GB", "IE", "FR", "DE", "AU", "other")
LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es", "other")
STAGES: tuple[str, ...] = (
    "first_contact",
    "early",
    "mid",
    "late",
    "plan_reminder",
    "missed_instalment",
    "pause_ending",
)
"""Journey stages, named as messaging's `JourneyStage` values."""
TYPOLOGY_DIMENSIONS: tuple[str, ...] = ("willing", "able", "organised", "emotional")

CONTEXT_FEATURES: tuple[str, ...] = (
    "bias",
    *(f"region={r}" for r in REGION_GROUPS),
    *(f"stage={s}" for s in STAGES),
    *(f"language={lang}" for lang in LANGUAGES),
    "log_days_since_placement",
    "log_days_past_due",
    "log_balance",
    "balance_share_left",
    *(f"log_{kind}_{ch}" for ch in CHANNELS for kind in ("sends", "opens", "clicks", "replies")),
    "open_rate",
    "click_rate",
    "log_days_since_last_send",
    "never_sent",
    "log_payments",
    "log_amount_paid",
    "log_days_since_last_payment",
    "never_paid",
    "has_active_plan",
    "plan_on_time_share",
    "log_missed_instalments",
    "local_hour_sin",
    "local_hour_cos",
    "local_weekday_sin",
    "local_weekday_cos",
    "weekend",
    "has_email",
    "has_phone",
    "has_address",
    *(f"prefers={c}" for c in (*CHANNELS, "none")),
    *(f"typology_{d}" for d in TYPOLOGY_DIMENSIONS),
    "typology_confidence",
)
N_FEATURES = len(CONTEXT_FEATURES)
_F = {name: j for j, name in enumerate(CONTEXT_FEATURES)}


def region_group(region: str) -> str:
    country = regions.country_of(region or "")
    return country if country in REGION_GROUPS else "other"


_UTC = ZoneInfo("UTC")


def zone_of(name: str) -> ZoneInfo:
    """A debtor's time zone; UTC for an unknown name (old data must not stop planning)."""
    return zone_get(name) or _UTC


def _log1p(x: float) -> float:
    return math.log1p(max(0.0, float(x)))


def _log_days_since(now: datetime, then: datetime) -> float:
    return _log1p((now - then).total_seconds() / 86400)


@dataclass
class AccountStats:
    """What `contexts_build` aggregates for one account (also read by the typology)."""

    sends: dict[str, int]
    opens: dict[str, int]
    clicks: dict[str, int]
    replies: dict[str, int]
    last_sent_at: datetime | None = None
    payments: int = 0
    amount_paid: Decimal = Decimal("0")
    last_paid_at: datetime | None = None
    has_active_plan: bool = False
    instalments_due: int = 0
    instalments_on_time: int = 0
    instalments_missed: int = 0


def account_stats(*, account_ids: Sequence[int], now: datetime) -> dict[int, AccountStats]:
    """Message, payment and plan history per account, in five aggregate queries.

    It stays whole on purpose: five independent aggregates over the same batch, each loop
    filling its own `AccountStats` fields.
    """
    from accounts.models import (
        OPEN_INSTALLMENT_STATUSES,
        Installment,
        InstallmentStatus,
        Payment,
        PaymentPlan,
        PaymentStatus,
        PlanStatus,
    )
    from messaging.models import EventKind, MessageEvent
    from messaging.models import Message as Msg

    ids = list(account_ids)
    stats = {aid: AccountStats({}, {}, {}, {}) for aid in ids}
    if not ids:
        return stats
    for row in (
        Msg.objects.filter(account_id__any=ids, sent_at__isnull=False, sent_at__lte=now)
        .values("account_id", "channel")
        .annotate(
            sends=Count("id"),
            opens=Count("id", filter=Q(opened_at__isnull=False, opened_at__lte=now)),
            clicks=Count("id", filter=Q(clicked_at__isnull=False, clicked_at__lte=now)),
            last=Max("sent_at"),
        )
        .order_by()
    ):
        s = stats[row["account_id"]]
        ch = row["channel"]
        s.sends[ch], s.opens[ch], s.clicks[ch] = row["sends"], row["opens"], row["clicks"]
        if s.last_sent_at is None or row["last"] > s.last_sent_at:
            s.last_sent_at = row["last"]
    for row in (
        MessageEvent.objects.filter(
            message__account_id__any=ids, kind=EventKind.REPLIED, occurred_at__lte=now
        )
        .values("message__account_id", "message__channel")
        .annotate(n=Count("id"))
        .order_by()
    ):
        stats[row["message__account_id"]].replies[row["message__channel"]] = row["n"]
    for row in (
        Payment.objects.filter(
            account_id__any=ids, status=PaymentStatus.SUCCEEDED, received_at__lte=now
        )
        .values("account_id")
        .annotate(n=Count("id"), total=Sum("amount"), last=Max("received_at"))
        .order_by()
    ):
        s = stats[row["account_id"]]
        s.payments, s.amount_paid, s.last_paid_at = row["n"], row["total"], row["last"]
    active = PaymentPlan.objects.filter(account_id__any=ids, status=PlanStatus.ACTIVE)
    for aid in active.values_list("account_id", flat=True):
        stats[aid].has_active_plan = True
    today = now.date()
    paid_on_time = Q(status=InstallmentStatus.PAID, paid_at__date__lte=F("due_date"))
    for row in (
        Installment.objects.filter(plan__account_id__any=ids, due_date__lt=today)
        .exclude(status=InstallmentStatus.CANCELLED)
        .values("plan__account_id")
        .annotate(
            due=Count("id"),
            on_time=Count("id", filter=paid_on_time),
            # Past due and still owed.
            missed=Count("id", filter=Q(status__in=OPEN_INSTALLMENT_STATUSES)),
        )
        .order_by()
    ):
        s = stats[row["plan__account_id"]]
        s.instalments_due, s.instalments_on_time = row["due"], row["on_time"]
        s.instalments_missed = row["missed"]
    return stats


def typology_vectors(*, debtor_ids: Sequence[int]) -> dict[int, tuple[float, ...]]:
    """Stored typology scores (willing, able, organised, emotional, confidence) per debtor."""
    from recommender.models import DebtorTypology

    return {
        row[0]: tuple(float(v) for v in row[1:])
        for row in DebtorTypology.objects.filter(debtor_id__any=list(debtor_ids)).values_list(
            "debtor_id", "willing", "able", "organised", "emotional", "confidence"
        )
    }


def context_vector(
    *,
    account: Any,
    debtor: Any,
    stage: str,
    stats: AccountStats,
    typology: tuple[float, ...] | None,
    now: datetime,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The context of one account (already loaded, with its aggregates), as floats.

    It stays whole on purpose: it writes the feature vector in the order `CONTEXT_FEATURES`
    declares it, one group after the other, so it reads against that list line by line.
    """
    x = np.zeros(N_FEATURES) if out is None else out
    x[_F["bias"]] = 1.0
    x[_F[f"region={region_group(debtor.region)}"]] = 1.0
    if stage in STAGES:
        x[_F[f"stage={stage}"]] = 1.0
    lang = debtor.language if debtor.language in LANGUAGES else "other"
    x[_F[f"language={lang}"]] = 1.0
    x[_F["log_days_since_placement"]] = _log_days_since(now, account.placed_at)
    if account.due_date:
        x[_F["log_days_past_due"]] = _log1p((now.date() - account.due_date).days)
    balance = float(account.current_balance)
    original = float(account.original_amount) or 1.0
    x[_F["log_balance"]] = _log1p(balance)
    x[_F["balance_share_left"]] = min(1.0, balance / original)
    sends = opens = clicks = 0
    for ch in CHANNELS:
        s, o, c = stats.sends.get(ch, 0), stats.opens.get(ch, 0), stats.clicks.get(ch, 0)
        x[_F[f"log_sends_{ch}"]] = _log1p(s)
        x[_F[f"log_opens_{ch}"]] = _log1p(o)
        x[_F[f"log_clicks_{ch}"]] = _log1p(c)
        x[_F[f"log_replies_{ch}"]] = _log1p(stats.replies.get(ch, 0))
        sends, opens, clicks = sends + s, opens + o, clicks + c
    # Smoothed towards typical rates so one message does not look like 0% or 100%.
    x[_F["open_rate"]] = (opens + 0.3) / (sends + 1.0)
    x[_F["click_rate"]] = (clicks + 0.05) / (sends + 1.0)
    if stats.last_sent_at is None:
        x[_F["never_sent"]] = 1.0
    else:
        x[_F["log_days_since_last_send"]] = _log_days_since(now, stats.last_sent_at)
    x[_F["log_payments"]] = _log1p(stats.payments)
    x[_F["log_amount_paid"]] = _log1p(float(stats.amount_paid or 0))
    if stats.last_paid_at is None:
        x[_F["never_paid"]] = 1.0
    else:
        x[_F["log_days_since_last_payment"]] = _log_days_since(now, stats.last_paid_at)
    x[_F["has_active_plan"]] = float(stats.has_active_plan)
    x[_F["plan_on_time_share"]] = (stats.instalments_on_time + 1.0) / (stats.instalments_due + 2.0)
    x[_F["log_missed_instalments"]] = _log1p(stats.instalments_missed)
    local = now.astimezone(debtor_zone(debtor)[1])  # the zone compliance reads it in
    hour = local.hour + local.minute / 60
    x[_F["local_hour_sin"]] = math.sin(2 * math.pi * hour / 24)
    x[_F["local_hour_cos"]] = math.cos(2 * math.pi * hour / 24)
    x[_F["local_weekday_sin"]] = math.sin(2 * math.pi * local.weekday() / 7)
    x[_F["local_weekday_cos"]] = math.cos(2 * math.pi * local.weekday() / 7)
    x[_F["weekend"]] = float(local.weekday() >= 5)
    x[_F["has_email"]] = float(bool(debtor.email))
    x[_F["has_phone"]] = float(bool(debtor.phone))
    x[_F["has_address"]] = float(bool(debtor.address_line1))
    pref = debtor.preferred_channel if debtor.preferred_channel in CHANNELS else "none"
    x[_F[f"prefers={pref}"]] = 1.0
    if typology is not None:
        for j, d in enumerate(TYPOLOGY_DIMENSIONS):
            x[_F[f"typology_{d}"]] = typology[j]
        x[_F["typology_confidence"]] = typology[4]
    return x


def contexts_build(
    *, accounts: Sequence[Any], stages: dict[int, str], now: datetime | None = None
) -> np.ndarray:
    """Context vectors of a batch of accounts (each with `.debtor` loaded), shape (m, d).

    A constant number of queries per batch (five aggregates plus the typologies), whatever
    the batch size: pass batches of a few hundred to a few thousand accounts.
    """
    now = now or timezone.now()
    ids = [a.pk for a in accounts]
    stats = account_stats(account_ids=ids, now=now)
    typ = typology_vectors(debtor_ids={a.debtor_id for a in accounts})
    X = np.zeros((len(accounts), N_FEATURES))
    for i, account in enumerate(accounts):
        context_vector(
            account=account,
            debtor=account.debtor,
            stage=stages.get(account.pk, ""),
            stats=stats[account.pk],
            typology=typ.get(account.debtor_id),
            now=now,
            out=X[i],
        )
    return X


# --- send times -----------------------------------------------------------------------------


def bucket_send_time(
    *,
    bucket: int,
    timezone_name: str,
    now: datetime,
    lead: timedelta = timedelta(minutes=5),
    preferred: tuple[Any, Any] | None = None,
) -> datetime | None:
    """The next send time (UTC) within `bucket` in the debtor's local time, within 24 hours.

    The earliest moment at least `lead` from now that lies in the bucket (and inside the
    debtor's preferred hours, when given); None when the bucket and the preferred hours do
    not overlap in the next 24 hours.
    """
    zone = zone_of(timezone_name)
    b = HOUR_BUCKETS[bucket]
    earliest = (now + lead).astimezone(zone)
    for day_offset in (0, 1):
        day: date = earliest.date() + timedelta(days=day_offset)
        start_min, end_min = b.start * 60, b.end * 60
        if preferred is not None and preferred[0] is not None and preferred[1] is not None:
            p_start = preferred[0].hour * 60 + preferred[0].minute
            p_end = preferred[1].hour * 60 + preferred[1].minute
            if p_end > p_start:  # a window within one day; overnight windows: bucket as is
                start_min, end_min = max(start_min, p_start), min(end_min, p_end)
        if end_min <= start_min:
            return None
        start = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(minutes=start_min)
        end = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(minutes=end_min)
        at = max(start, earliest)
        if at < end:
            at = at.replace(second=0, microsecond=0)
            if at < earliest:
                at += timedelta(minutes=1)
            if (at - now) <= timedelta(hours=24) and at < end:
                return at.astimezone(ZoneInfo("UTC"))
    return None


def summarise_contexts(X: np.ndarray) -> dict[str, list[float]]:
    """Mean and standard deviation of each context feature (stored with a model version)."""
    if X.shape[0] == 0:
        return {"mean": [0.0] * N_FEATURES, "std": [1.0] * N_FEATURES}
    return {"mean": X.mean(axis=0).tolist(), "std": X.std(axis=0).tolist()}


@lru_cache(maxsize=1)
def feature_groups() -> dict[str, list[int]]:
    """Feature indices grouped by what a person would call one thing (for explanations)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for j, name in enumerate(CONTEXT_FEATURES):
        key = name.split("=", 1)[0] if "=" in name else name
        groups[key].append(j)
    return dict(groups)
