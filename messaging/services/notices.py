"""`dispute_outcome_send`: the debtor is told how an operator resolved their dispute.

A notice, not a collection message, but it leaves like every other message: through
`message_send`, with its stop flags, opt-outs, consent, an address on file, the region's
compliance rules (an audited decision) and the content checks. Only the account's status is
not a reason to hold it (`ANY_STATUS_CTAS`): a dispute resolved for the debtor closes the
account, and the debtor must still hear that the debt was withdrawn.

The content is a live variant whose call to action is "Notice: dispute resolved for the
debtor" or "Notice: dispute resolved, the debt stands", in the debtor's language and region,
email first, then SMS, then letter (the library's seed has all three in English, French and
German), so a debtor reached only by post hears the outcome too. Outside
the region's hours it is planned for the next moment the rules allow, rather than dropped.
One message per dispute: a retry returns the same row.
"""

from __future__ import annotations

from accounts.models import Account
from messaging.models import CallToAction, Message
from messaging.services.links import notice_send


def dispute_outcome_send(
    *, account: Account, dispute_id: int, upheld: bool, actor: str
) -> Message | None:
    """Plan the outcome notice of dispute `dispute_id` on `account`. Returns the message
    (planned, or blocked with its reasons on the timeline), or None when no live variant or
    no address fits (nothing is written then: the caller records that no notice went)."""
    cta = CallToAction.DISPUTE_UPHELD if upheld else CallToAction.DISPUTE_DEBT_STANDS
    return notice_send(
        debtor=account.debtor,
        account=account,
        cta=cta,
        slot=f"dispute-outcome-{dispute_id}",
        explanation={
            "why": "dispute resolved " + ("for the debtor" if upheld else "(the debt stands)"),
            "dispute_id": dispute_id,
        },
        actor=actor,
    )
