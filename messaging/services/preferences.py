"""Opt-outs as messaging sees them: an unsubscribe, a STOP keyword or a complaint becomes a
call to `accounts.services.debtor_opt_out` / `debtor_opt_in`, the one writer of a debtor's
`opted_out_<channel>` flags, which adds or removes the flag and writes the timeline entry in
the same transaction. Planning and delivery refuse that channel from then on (and so does
compliance, which reads the same flags). Callers: one-click unsubscribes and inbound
STOP/START keywords (`messaging.services.inbound`), complaints and unsubscribe events
(`messaging.services.events`).
"""

from __future__ import annotations

from accounts import services as accounts_services
from accounts.models import Debtor
from messaging.models import Message


def debtor_opt_out(
    *,
    debtor: Debtor,
    channel: str,
    source: str,
    actor: str = "debtor",
    message: Message | None = None,
) -> bool:
    """Opt `debtor` out of `channel`; True if that changed anything (repeats are no-ops)."""
    return accounts_services.debtor_opt_out(
        debtor=debtor,
        channel=channel,
        actor=actor,
        summary=f"Opted out of {channel} messages ({source}).",
        account=message.account if message is not None else None,
        data={"source": source, "message_id": message.pk if message is not None else None},
    )


def debtor_opt_in(*, debtor: Debtor, channel: str, source: str, actor: str = "debtor") -> bool:
    """Undo an opt-out of `channel` (an inbound START); True if that changed anything."""
    return accounts_services.debtor_opt_in(
        debtor=debtor,
        channel=channel,
        actor=actor,
        summary=f"Opted back in to {channel} messages ({source}).",
        data={"source": source},
    )
