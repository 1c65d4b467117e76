"""What happens to a message after it leaves: provider events, opens, clicks, conversions.

Every event is recorded once, keyed by `MessageEvent.event_key` (the provider's event id or a
key derived from what happened), so webhook replays and repeated pixel loads change nothing.
The first delivery/open/click/conversion of a message is also stamped on the message row
(which is what the listing's funnel counts) and written to the debtor's timeline.
`event_record` records one event; `events_record` many at once, set-based, with the same
result.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.bulk import bulk_insert, bulk_update_by_pk
from accounts.models import Account, Activity, ActivityKind
from accounts.transitions import transition_save
from compliance import services as compliance
from messaging import selectors
from messaging.models import EventKind, Message, MessageEvent, MessageStatus, channel_label
from messaging.services.handoff import HANDOFF_UNCONFIRMED, activity_row
from messaging.services.preferences import debtor_opt_out

M = MessageStatus
T = TypeVar("T")
_ACTIVITY = {
    EventKind.DELIVERED: ActivityKind.MESSAGE_DELIVERED,
    EventKind.OPENED: ActivityKind.MESSAGE_OPENED,
    EventKind.CLICKED: ActivityKind.MESSAGE_CLICKED,
    EventKind.BOUNCED: ActivityKind.MESSAGE_BOUNCED,
    EventKind.FAILED: ActivityKind.MESSAGE_FAILED,
    EventKind.COMPLAINED: ActivityKind.MESSAGE_BOUNCED,
    EventKind.REPLIED: ActivityKind.MESSAGE_REPLIED,
    EventKind.CONVERTED: ActivityKind.MESSAGE_CONVERTED,
}
_FIRST_STAMP = {
    EventKind.DELIVERED: "delivered_at",
    EventKind.OPENED: "opened_at",
    EventKind.CLICKED: "clicked_at",
    EventKind.CONVERTED: "converted_at",
}
_READ = (
    "creditor", "account", "debtor", "channel", "links", "sent_at", *_FIRST_STAMP.values(),
    *Message.STATE_FIELDS,
)  # fmt: skip
"""The message fields recording an event reads and writes. Leaving the rest unread (the
content, disclosures, the decision's explanation) saves about a tenth of the CPU of
recording an open (bench/messaging.py). A field not named here is still read if used, one
query later."""


def event_record(
    *,
    message: Message,
    kind: str,
    event_key: str,
    source: str,
    occurred_at: datetime | None = None,
    data: dict[str, Any] | None = None,
) -> MessageEvent | None:
    """Record one event of a message; returns None when `event_key` was already recorded.

    Effects, in the same transaction: delivered moves a sent message to `delivered`; bounced
    and failed fail it (and tell the contact ledger it never connected); a complaint or an
    unsubscribe opts the debtor out of the channel; the first open, click, delivery and
    conversion are stamped on the message and put on the timeline.
    """
    _kind_check(kind)
    key = event_key[:200]

    def write() -> MessageEvent:
        locked = Message.objects.select_for_update().only(*_READ).get(pk=message.pk)
        return _event_write(locked, kind, key, source, occurred_at, data)

    return _once(write, key)


@dataclass(frozen=True)
class EventIn:
    """One event for `events_record`: what `event_record` takes, the message by its id."""

    message_id: int
    kind: str
    event_key: str
    source: str
    occurred_at: datetime | None = None
    data: dict[str, Any] | None = None


EVENTS_CHUNK = 500
"""Events `events_record` writes per transaction (and per query)."""


def events_record(events: Sequence[EventIn]) -> list[MessageEvent | None]:
    """Record many events, in order, with the effects `event_record` gives each; returns each
    one's event, None for a key already recorded (before, or earlier in `events`).

    Set-based, `EVENTS_CHUNK` events per transaction: their messages read and locked in one
    query (in id order), the recorded keys looked up in one, the events inserted in one, the
    first-time stamps saved in one UPDATE per set of stamped fields (`updated_at` with them)
    and the timeline rows in one insert. The rarer effects (a state change, the contact
    ledger, an opt-out) are written as `event_record` writes them. Should another process
    record one of the keys meanwhile, that chunk is rolled back and recorded event by event
    instead.

    For callers that hold many events at once (the simulator's hour of reactions, an
    import); a message that does not exist raises `Message.DoesNotExist`, with the chunks
    before its own recorded and nothing of its own.
    """
    for event in events:
        _kind_check(event.kind)
    results: list[MessageEvent | None] = []
    for start in range(0, len(events), EVENTS_CHUNK):
        chunk = events[start : start + EVENTS_CHUNK]
        try:
            with transaction.atomic():
                results += _events_write(chunk)
        except IntegrityError:
            results += [event_in_record(e) for e in chunk]
    return results


def event_in_record(event: EventIn) -> MessageEvent | None:
    """`event_record` of one `EventIn`."""
    return event_record(
        message=Message(pk=event.message_id), kind=event.kind, event_key=event.event_key,
        source=event.source, occurred_at=event.occurred_at, data=event.data,
    )  # fmt: skip


def _kind_check(kind: str) -> None:
    if kind not in EventKind.values:
        raise ValueError(f"unknown event kind {kind!r}")


def _events_write(events: Sequence[EventIn]) -> list[MessageEvent | None]:
    """`events_record`'s work for one chunk, inside its transaction."""
    ids = sorted({e.message_id for e in events})
    locked = {
        m.pk: m
        for m in Message.objects.select_for_update().only(*_READ).filter(pk__in=ids).order_by("pk")
    }
    for message_id in ids:
        if message_id not in locked:
            raise Message.DoesNotExist(f"message {message_id} does not exist")
    keys = [e.event_key[:200] for e in events]
    seen = set(MessageEvent.objects.filter(event_key__in=keys).values_list("event_key", flat=True))
    now = timezone.now()
    results: list[MessageEvent | None] = []
    new: list[MessageEvent] = []
    for e, key in zip(events, keys, strict=True):
        if key in seen:
            results.append(None)
            continue
        seen.add(key)
        event = MessageEvent(
            message=locked[e.message_id], kind=e.kind, event_key=key, source=e.source[:30],
            occurred_at=e.occurred_at or now, data=dict(e.data or {}),
        )  # fmt: skip
        new.append(event)
        results.append(event)
    MessageEvent.objects.bulk_create(new)
    _pks_read(new)
    writes = _Writes()
    for event in new:
        _apply(event.message, event, writes)
    writes.save()
    return results


def _pks_read(events: list[MessageEvent]) -> None:
    """Set the ids of inserted events on databases that do not return them from a bulk
    insert (SQLite before 3.35); the timeline rows name their event."""
    missing = [e.event_key for e in events if e.pk is None]
    if missing:
        ids = dict(
            MessageEvent.objects.filter(event_key__in=missing).values_list("event_key", "pk")
        )
        for event in events:
            if event.pk is None:
                event.pk = ids[event.event_key]


@dataclass
class _Writes:
    """The first-time stamps and timeline rows that applying events leaves, saved together
    (`save`): one UPDATE per set of stamped fields (with `updated_at`), one insert of
    timeline rows (one row's own save for a single message or row)."""

    stamped: dict[int, tuple[Message, set[str]]] = field(default_factory=dict)
    activities: list[Activity] = field(default_factory=list)

    def stamp(self, message: Message, fields: list[str]) -> None:
        self.stamped.setdefault(message.pk, (message, set()))[1].update(fields)

    def save(self) -> None:
        now = timezone.now()
        if len(self.stamped) == 1:
            ((message, fields),) = self.stamped.values()
            message.updated_at = now
            message.save(update_fields=sorted({*fields, "updated_at"}))
        elif self.stamped:
            groups: dict[tuple[str, ...], list[Message]] = defaultdict(list)
            for message, fields in self.stamped.values():
                message.updated_at = now
                groups[tuple(sorted(fields))].append(message)
            for fields, messages in groups.items():
                bulk_update_by_pk(Message, messages, [*fields, "updated_at"])
        if len(self.activities) == 1:
            self.activities[0].save()
        else:
            bulk_insert(Activity, self.activities)


def _once(
    write: Callable[[], T], event_key: str, replayed: Callable[[], T | None] = lambda: None
) -> T | None:
    """`write()` in one transaction; `replayed()` instead when it failed because `event_key`
    is recorded already (a replay, or the same event recorded meanwhile by another process).

    The unique key is the guard, without a savepoint around the insert: a savepoint costs
    two round trips to the database on every event, a replay only one more query."""
    try:
        with transaction.atomic():
            return write()
    except IntegrityError:
        if MessageEvent.objects.filter(event_key=event_key).exists():
            return replayed()
        raise


def _event_write(
    locked: Message,
    kind: str,
    event_key: str,
    source: str,
    occurred_at: datetime | None,
    data: dict[str, Any] | None,
) -> MessageEvent:
    """Insert the event of `locked` (read `select_for_update` in this transaction) and apply
    its effects.

    The message row is read alone: its debtor and account are read only by the rare effects
    that need them (an opt-out, the contact ledger); the timeline row takes their ids."""
    event = MessageEvent.objects.create(
        message=locked,
        kind=kind,
        event_key=event_key,
        source=source[:30],
        occurred_at=occurred_at or timezone.now(),
        data=data or {},
    )
    writes = _Writes()
    _apply(locked, event, writes)
    writes.save()
    return event


def _apply(message: Message, event: MessageEvent, writes: _Writes) -> None:
    """The effects of `event` on `message`: the rare ones written now, the first-time stamps
    and the timeline row left to `writes`."""
    kind = event.kind
    at = event.occurred_at
    fields: list[str] = []
    stamp = _FIRST_STAMP.get(kind)
    first = False
    if stamp and getattr(message, stamp) is None:
        setattr(message, stamp, at)
        fields.append(stamp)
        first = True
    if kind == EventKind.CLICKED and message.opened_at is None:
        message.opened_at = at  # a click implies the message was opened (images may be off)
        fields.append("opened_at")
    # The event row, written by `event_record` in this transaction, is the change's audit.
    if kind == EventKind.DELIVERED and message.status == M.SENT:
        transition_save(message, M.DELIVERED, at=at, audit=lambda _old: event)
    unconfirmed = _handoff_unconfirmed(message)
    if kind in (EventKind.BOUNCED, EventKind.FAILED) and message.can_transition(M.FAILED):
        reason = str(event.data.get("reason") or kind)
        transition_save(message, M.FAILED, reason=reason, at=at, audit=lambda _old: event)
        _ledger_outcome(message, "failed", at=at)
    elif kind in (EventKind.BOUNCED, EventKind.FAILED) and unconfirmed:
        _ledger_outcome(message, "failed", at=at)  # it never reached the debtor after all
    elif kind == EventKind.DELIVERED and unconfirmed:
        _ledger_outcome(message, "delivered", at=at)  # the hand-off did happen
    if fields:
        writes.stamp(message, fields)
    if kind in (EventKind.COMPLAINED, EventKind.UNSUBSCRIBED):
        debtor_opt_out(
            debtor=message.debtor, channel=message.channel, source=event.source, message=message
        )
    activity_kind = _ACTIVITY.get(kind)
    # Opens and clicks repeat; only the first of each reaches the timeline.
    if activity_kind and (first or kind not in (EventKind.OPENED, EventKind.CLICKED)):
        writes.activities.append(
            activity_row(
                message,
                activity_kind,
                f"{channel_label(message.channel)} message {EventKind(kind).label.lower()}.",
                at=at,
                data={"event_id": event.pk, "source": event.source},
                actor=event.source if kind == EventKind.CONVERTED else "system",
            )
        )


def _handoff_unconfirmed(message: Message) -> bool:
    """Failed because a hand-off could not be confirmed (it may have gone out):
    `messaging.services.handoff` counted it in the contact ledger at hand-off time."""
    return message.status == M.FAILED and message.status_reason.startswith(HANDOFF_UNCONFIRMED)


def _ledger_outcome(message: Message, outcome: str, *, at: datetime) -> None:
    """Tell the contact ledger what a provider said of the message: updates the entry of its
    hand-off (reference `message:<id>`) rather than adding one."""
    compliance.contact_record(
        debtor=message.debtor,
        channel=message.channel,
        at=message.sent_at or message.handoff_at or at,
        outcome=outcome,
        source="message",
        account=message.account,
        reference=f"message:{message.pk}",
    )


# --- our tracking endpoints ------------------------------------------------------------------


def message_open(*, message_id: int, at: datetime | None = None) -> bool:
    """The open pixel of a sent message was loaded; False if there is no such sent message."""
    key = f"open:{message_id}"

    def write() -> bool:
        message = _sent_locked(message_id)
        if message is not None:
            _event_write(message, EventKind.OPENED, key, "tracking", at, None)
        return message is not None

    return bool(_once(write, key, replayed=lambda: True))


def message_click(*, message_id: int, index: int, at: datetime | None = None) -> str | None:
    """A tracked link was followed: record it and return the link's target, taken from the
    message's own frozen links (None if the message or link does not exist)."""
    key = f"click:{message_id}:{index}"

    def write() -> str | None:
        message = _sent_locked(message_id)
        target = _link_target(message, index)
        if target is not None:
            _event_write(message, EventKind.CLICKED, key, "tracking", at, {"link": index})
        return target

    return _once(
        write,
        key,
        replayed=lambda: _link_target(selectors.message_sent_get(message_id=message_id), index),
    )


def _link_target(message: Message | None, index: int) -> str | None:
    """The web address of the message's link `index`, if it has such a link."""
    links = message.links if message is not None else None
    if not isinstance(links, list) or not 0 <= index < len(links):
        return None
    target = links[index]
    if not isinstance(target, str) or not target.startswith(("https://", "http://")):
        return None
    return target


def _sent_locked(message_id: int) -> Message | None:
    """The message with this id, locked for this transaction, if it was sent (tracking only
    answers for those)."""
    return (
        Message.objects.select_for_update()
        .only(*_READ)
        .filter(pk=message_id, sent_at__isnull=False)
        .first()
    )


# --- attribution -----------------------------------------------------------------------------


def conversion_attribute(
    *, account: Account, at: datetime, kind: str, reference: str = ""
) -> Message | None:
    """Credit a payment or plan (`kind`: "payment", "plan", ...) to the last message of the
    account opened or clicked within the attribution window before `at` (last touch).

    Records a `converted` event (once per account, kind and `reference`, e.g. the payment id)
    and returns the credited message, or None when no message was touched in the window.
    Called by the portal and the payment flow after their own transaction commits.
    """
    window = timedelta(days=settings.MESSAGING_ATTRIBUTION_WINDOW_DAYS)
    touch = selectors.touch_last(account_id=account.pk, since=at - window, until=at)
    if touch is None:
        return None
    key = f"conversion:{account.pk}:{kind}:{reference or at.isoformat()}"
    event_record(
        message=touch.message,
        kind=EventKind.CONVERTED,
        event_key=key,
        source=kind[:30],
        occurred_at=at,
        data={"kind": kind, "reference": reference, "touch_event_id": touch.pk},
    )
    return touch.message
