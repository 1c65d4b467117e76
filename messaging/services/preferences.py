"""Opt-outs: the one write path of a debtor's `opted_out_<channel>` flag.

An opt-out adds `opted_out_<channel>` to the debtor's flags and writes an `opted_out` timeline
entry in the same transaction; planning and delivery refuse that channel from then on (and so
does compliance, which reads the same flags). Callers: one-click unsubscribes and inbound
STOP/START keywords (`messaging.services.inbound`), complaints and unsubscribe events
(`messaging.services.events`).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import ActivityKind, Debtor
from accounts.services import activity_record
from messaging.models import Message


def _opt_out_flag_set(debtor: Debtor, channel: str, *, opted_out: bool) -> Debtor | None:
    """Add or remove `opted_out_<channel>` on the locked debtor row; returns the row when that
    changed something (the caller writes the timeline entry in the same transaction)."""
    flag = f"opted_out_{channel}"
    locked = Debtor.objects.select_for_update().get(pk=debtor.pk)
    flags = set(locked.flags or [])
    if (flag in flags) == opted_out:
        return None
    locked.flags = sorted(flags | {flag} if opted_out else flags - {flag})
    locked.updated_at = timezone.now()
    locked.save(update_fields=["flags", "updated_at"])
    return locked


def debtor_opt_out(
    *,
    debtor: Debtor,
    channel: str,
    source: str,
    actor: str = "debtor",
    message: Message | None = None,
) -> bool:
    """Opt `debtor` out of `channel`; True if that changed anything (repeats are no-ops)."""
    with transaction.atomic():
        locked = _opt_out_flag_set(debtor, channel, opted_out=True)
        if locked is None:
            return False
        activity_record(
            debtor=locked,
            account=message.account if message is not None else None,
            kind=ActivityKind.OPTED_OUT,
            summary=f"Opted out of {channel} messages ({source}).",
            actor=actor,
            data={
                "channel": channel,
                "source": source,
                "message_id": message.pk if message is not None else None,
            },
        )
    debtor.flags = locked.flags
    return True


def debtor_opt_in(*, debtor: Debtor, channel: str, source: str, actor: str = "debtor") -> bool:
    """Undo an opt-out of `channel` (an inbound START); True if that changed anything."""
    with transaction.atomic():
        locked = _opt_out_flag_set(debtor, channel, opted_out=False)
        if locked is None:
            return False
        activity_record(
            debtor=locked,
            kind=ActivityKind.PREFERENCE_CHANGE,
            summary=f"Opted back in to {channel} messages ({source}).",
            actor=actor,
            data={"channel": channel, "source": source},
        )
    debtor.flags = locked.flags
    return True
