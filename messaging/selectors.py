"""Reads of the messaging app: sendable variants, variant funnels, the outbox reads of the
services.

Every selector that feeds sending returns live (approved) variants only; the recommender's
planner builds its candidates from `variants_eligible`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count, Q, QuerySet

from accounts.models import Debtor
from compliance.selectors import RuleSet
from compliance.services import debtor_zone
from messaging.models import (
    NOTICE_CTAS,
    EventKind,
    Message,
    MessageEvent,
    MessageVariant,
    region_tags_match,
)


def variants_live() -> QuerySet[MessageVariant]:
    """Variants that may be sent: live (approved through the workflow) with a live revision."""
    return MessageVariant.objects.filter(live=True, live_revision__isnull=False).select_related(
        "tone"
    )


def variants_eligible(
    *,
    stage: str,
    language: str,
    region: str,
    channels: Iterable[str] | None = None,
    variants: Iterable[MessageVariant] | None = None,
) -> list[MessageVariant]:
    """Live variants for a journey stage, language, region and (optionally) channels.

    Pass `variants` (e.g. `list(variants_live())` loaded once) to match many accounts in
    memory without a query each: the planner's hot loop does this.
    """
    pool = variants_live() if variants is None else variants
    allowed = set(channels) if channels is not None else None
    return [
        v
        for v in pool
        if v.live
        and stage in (v.stages or [])
        and v.cta not in NOTICE_CTAS
        and v.language == language
        and (allowed is None or v.channel in allowed)
        and region_tags_match(v.regions, region)
    ]


def json_list_contains(field: str, value: str) -> Q:
    """A filter for rows whose JSON list `field` contains the string `value`.

    PostgreSQL uses `@>` (indexable); SQLite matches the quoted JSON text, which is exact for
    the simple codes stored here (stage names, region codes).
    """
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__contains": [value]})
    return Q(**{f"{field}__icontains": f'"{value}"'})


def json_list_empty(field: str) -> Q:
    """A filter for rows whose JSON list `field` is empty."""
    return Q(**{field: []})


@dataclass(frozen=True, slots=True)
class Funnel:
    """A variant's funnel: counts of messages and the rates derived from them.

    Open and click rates are over delivered messages (what a provider confirmed); the
    conversion rate is over sent messages (letters, for instance, never confirm delivery).
    """

    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    converted: int = 0

    @staticmethod
    def _rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def open_rate(self) -> float | None:
        return self._rate(self.opened, self.delivered)

    @property
    def click_rate(self) -> float | None:
        return self._rate(self.clicked, self.delivered)

    @property
    def conversion_rate(self) -> float | None:
        return self._rate(self.converted, self.sent)


def funnel_counts() -> dict[str, Count]:
    """The funnel's aggregates over sent messages: each stage is the first time it happened,
    stamped on the message (`sent`, `delivered`, `opened`, `clicked`, `converted`)."""
    return {
        "sent": Count("id"),
        "delivered": Count("id", filter=Q(delivered_at__isnull=False)),
        "opened": Count("id", filter=Q(opened_at__isnull=False)),
        "clicked": Count("id", filter=Q(clicked_at__isnull=False)),
        "converted": Count("id", filter=Q(converted_at__isnull=False)),
    }


def variants_funnel(*, variant_ids: Iterable[int]) -> dict[int, Funnel]:
    """Funnels of several variants in one aggregate query (one row per variant).

    Each message records the first time it was delivered, opened, clicked and converted, so
    this counts columns of one table; no join with the event log is needed.
    """
    ids = list(variant_ids)
    if not ids:
        return {}
    rows = (
        Message.objects.filter(variant_id__in=ids, sent_at__isnull=False)
        .values("variant_id")
        .annotate(**funnel_counts())
        .order_by()
    )
    result = {vid: Funnel() for vid in ids}
    for row in rows:
        vid = row.pop("variant_id")
        result[vid] = Funnel(**row)
    return result


# --- reads of the services (plain reads: the writes that follow them lock what they change) ---


def messages_in_slots(
    *, account_ids: Iterable[int], slots: Iterable[str]
) -> dict[tuple[int, str], Message]:
    """The messages already holding any of these (account, slot) pairs, by (account, slot)."""
    return {
        (m.account_id, m.slot): m
        for m in Message.objects.filter(account_id__any=list(account_ids), slot__in=set(slots))
    }


def accounts_sent_to(*, account_ids: Iterable[int]) -> set[int]:
    """The accounts among `account_ids` that were ever sent a message (the next is not the
    initial communication)."""
    return set(
        Message.objects.filter(account_id__any=list(account_ids), sent_at__isnull=False)
        .values_list("account_id", flat=True)
        .distinct()
    )


def message_sent_get(*, message_id: int) -> Message | None:
    """The message with this id if it was sent (tracking only answers for those)."""
    return Message.objects.filter(pk=message_id, sent_at__isnull=False).first()


def message_of_debtor(*, message_id: int, debtor_id: int) -> Message | None:
    """The message with this id if it was addressed to this debtor, with its account."""
    return (
        Message.objects.filter(pk=message_id, debtor_id=debtor_id).select_related("account").first()
    )


def message_last_sent_to(
    *, debtors: Iterable[Debtor], channel: str, recipient: str
) -> Message | None:
    """The last message sent to `recipient` on `channel` for any of `debtors` (what an
    inbound text replies to)."""
    return (
        Message.objects.filter(
            debtor__in=debtors, channel=channel, recipient=recipient, sent_at__isnull=False
        )
        .order_by("-sent_at", "-id")
        .first()
    )


def touch_last(*, account_id: int, since: datetime, until: datetime) -> MessageEvent | None:
    """The account's last open or click between `since` and `until` (inclusive), with its
    message: what a conversion is credited to."""
    return (
        MessageEvent.objects.filter(
            message__account_id=account_id,
            kind__in=[EventKind.OPENED, EventKind.CLICKED],
            occurred_at__gte=since,
            occurred_at__lte=until,
        )
        .select_related("message")
        .order_by("-occurred_at", "-id")
        .first()
    )


# --- the debtor's local time at sending ------------------------------------------------------


def send_zone(*, timezone: str, region: str, rules: RuleSet | None = None) -> ZoneInfo:
    """The zone a message's local send time is read in, for a debtor with this `timezone`
    and `region`: the one compliance reads their local time in (`debtor_zone`: their own
    zone, else their region's, else UTC). The hand-off stores the local weekday and hour it
    gives on the message (`sent_local`), which the cockpit's send-time rollup (`SendTimeDay`)
    and the outbox's local hour and weekday filters read."""
    debtor = SimpleNamespace(timezone=timezone or "", region=region or "")
    return debtor_zone(debtor, rules)[1]  # type: ignore[arg-type]


def sent_local(debtor: Debtor, at: datetime, *, rules: RuleSet | None = None) -> tuple[int, int]:
    """(weekday, hour) of instant `at` on `debtor`'s clock in `send_zone`: 0 Monday ... 6
    Sunday, 0-23. Stored on a message when it is sent (`Message.sent_local_weekday`,
    `sent_local_hour`)."""
    local = at.astimezone(send_zone(timezone=debtor.timezone, region=debtor.region, rules=rules))
    return local.weekday(), local.hour


def messages_sent_local(
    queryset: QuerySet[Message], *, hour: int | None = None, weekday: int | None = None
) -> QuerySet[Message]:
    """`queryset` narrowed to the messages sent at the debtor's local `hour` (0-23) and on
    their local `weekday` (0 Monday ... 6 Sunday), either or both, in `send_zone`.

    Reads the local weekday and hour the hand-off stored with `sent_at` (an index lookup,
    `message_sent_local`): the zone the debtor had when the message went out, as the
    send-time rollup counts it."""
    if hour is not None:
        queryset = queryset.filter(sent_local_hour=hour)
    if weekday is not None:
        queryset = queryset.filter(sent_local_weekday=weekday)
    return queryset
