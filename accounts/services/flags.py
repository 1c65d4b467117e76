"""The debtor's contact flags that record the debtor's own requests: opt-outs per channel and
contact preferences. The only writers of `opted_out_<channel>` flags; each change writes its
timeline entry in the same transaction.

Callers: messaging (unsubscribe links, STOP/START replies, complaints) and the portal's
preferences page. A creditor's placement adds flags but never removes these
(`accounts.services.placement`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import time
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, ActivityKind, Debtor, opt_out_flag
from accounts.services.activity import activity_record
from accounts.webhooks.events import webhook_event_record
from accounts.webhooks.models import EventType


def _opt_out_flag_set(debtor: Debtor, channel: str, *, opted_out: bool) -> Debtor | None:
    """Add or remove `opted_out_<channel>` on the locked debtor row; returns the row when that
    changed something (the caller writes the timeline entry in the same transaction)."""
    flag = opt_out_flag(channel)
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
    actor: str,
    summary: str,
    account: Account | None = None,
    data: dict[str, Any] | None = None,
) -> bool:
    """Opt `debtor` out of `channel` with an `opted_out` entry (`data` adds the source);
    True if that changed anything (repeats are no-ops)."""
    return _opt_out_change(
        debtor, channel, opted_out=True, kind=ActivityKind.OPTED_OUT, actor=actor,
        summary=summary, account=account, data=data,
    )  # fmt: skip


def debtor_opt_in(
    *, debtor: Debtor, channel: str, actor: str, summary: str, data: dict[str, Any] | None = None
) -> bool:
    """Undo an opt-out of `channel` with a `preference_change` entry; True if that changed
    anything."""
    return _opt_out_change(
        debtor, channel, opted_out=False, kind=ActivityKind.PREFERENCE_CHANGE, actor=actor,
        summary=summary, account=None, data=data,
    )  # fmt: skip


def _opt_out_change(
    debtor: Debtor,
    channel: str,
    *,
    opted_out: bool,
    kind: str,
    actor: str,
    summary: str,
    account: Account | None,
    data: dict[str, Any] | None,
) -> bool:
    """Set or clear the opt-out flag and write its timeline entry, in one transaction; True
    if that changed anything (and then `debtor.flags` is the new flags)."""
    with transaction.atomic():
        locked = _opt_out_flag_set(debtor, channel, opted_out=opted_out)
        if locked is None:
            return False
        activity_record(
            debtor=locked,
            account=account,
            kind=kind,
            summary=summary,
            actor=actor,
            data={"channel": channel, **(data or {})},
        )
        _preferences_event(locked)
    debtor.flags = locked.flags
    return True


def debtor_preferences_set(
    *,
    debtor: Debtor,
    preferred_channel: str,
    hours: tuple[time | None, time | None],
    opted_out: Iterable[str],
    channels: Iterable[str],
    actor: str,
    where: str,
    data: dict[str, Any] | None = None,
) -> Debtor:
    """Save the debtor's preferred channel and hours and the set of `channels` opted out of.

    Writes one `preference_change` entry ("Contact preferences changed <where>.", with
    `data`), plus one `opted_out` entry per channel newly opted out of; nothing when nothing
    changed. Returns the saved (locked) row.
    """
    chosen = set(opted_out)
    with transaction.atomic():
        locked = Debtor.objects.select_for_update().get(pk=debtor.pk)
        flags = set(locked.flags or [])
        before = {c for c in channels if opt_out_flag(c) in flags}
        added, removed = chosen - before, before - chosen
        flags -= {opt_out_flag(c) for c in removed}
        flags |= {opt_out_flag(c) for c in added}
        changed = (
            bool(added or removed)
            or (locked.preferred_channel or "") != preferred_channel
            or (locked.preferred_hours_start, locked.preferred_hours_end) != hours
        )
        if not changed:
            return locked
        locked.flags = sorted(flags)
        locked.preferred_channel = preferred_channel
        locked.preferred_hours_start, locked.preferred_hours_end = hours
        locked.updated_at = timezone.now()
        locked.save(
            update_fields=[
                "flags",
                "preferred_channel",
                "preferred_hours_start",
                "preferred_hours_end",
                "updated_at",
            ]
        )
        _preferences_record(
            locked,
            added=added,
            removed=removed,
            preferred_channel=preferred_channel,
            actor=actor,
            where=where,
            data=data,
        )
        _preferences_event(locked)
    return locked


def _preferences_event(debtor: Debtor) -> None:
    """The `debtor.contact_preferences_changed` webhook event, in the change's transaction."""
    webhook_event_record(
        creditor_id=debtor.creditor_id,
        type=EventType.DEBTOR_CONTACT_PREFERENCES_CHANGED,
        obj=debtor,
    )


def _preferences_record(
    debtor: Debtor,
    *,
    added: set[str],
    removed: set[str],
    preferred_channel: str,
    actor: str,
    where: str,
    data: dict[str, Any] | None,
) -> None:
    """The timeline entries of `debtor_preferences_set`, in its transaction: the change, and
    one `opted_out` entry per channel newly opted out of."""
    activity_record(
        debtor=debtor,
        kind=ActivityKind.PREFERENCE_CHANGE,
        summary=f"Contact preferences changed {where}.",
        data={
            "opted_out": sorted(added),
            "opted_in": sorted(removed),
            "preferred_channel": preferred_channel,
            **(data or {}),
        },
        actor=actor,
    )
    for channel in sorted(added):
        activity_record(
            debtor=debtor,
            kind=ActivityKind.OPTED_OUT,
            summary=f"Opted out of {channel} {where}.",
            data={"channel": channel},
            actor=actor,
        )
