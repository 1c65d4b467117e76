"""`portal_link_send`: a fresh portal link, asked for by the debtor from an expired link.

A transactional message, but it still leaves through `message_send`: the same account and
flag checks, opt-outs and consent, the region's compliance rules (hours, holidays and the
frequency caps) with an audited decision, and the content checks. Caps are not waived: a
debtor-initiated request is not an exemption the rule packs name, and a blocked request is
visible (a `blocked` message with its reasons on the timeline) while the debtor can still sign
in from any later message. It goes only to the address or number on file
(`content.recipient_for`); nothing typed in is used.

The content is a live variant whose call to action is "View the account" (it carries
`{{ portal_link }}`, rendered with a freshly signed token), in the debtor's language and
region, email first, then SMS.
"""

from __future__ import annotations

from accounts.models import Account, Debtor
from messaging.models import (
    CHANNEL_FIELDS,
    CallToAction,
    Channel,
    Message,
    MessageVariant,
    region_tags_match,
)
from messaging.selectors import variants_live
from messaging.services.sending import message_send, precheck

_CHANNELS = (Channel.EMAIL, Channel.SMS)


def portal_link_variant(*, debtor: Debtor, account: Account) -> MessageVariant | None:
    """The live "View the account" variant for the debtor's language and region, on the first
    channel (email, then SMS) with an address on file and no opt-out, or None."""
    language = debtor.language or account.creditor.locale.split("-")[0]
    pool = [
        v
        for v in variants_live().filter(cta=CallToAction.VIEW_ACCOUNT).order_by("pk")
        if v.language == language and region_tags_match(v.regions, debtor.region)
    ]
    for channel in _CHANNELS:
        # No address on file, opted out, no consent: try the next channel.
        if precheck(account=account, channel=channel, stage="") is not None:
            continue
        for variant in pool:
            text = " ".join(getattr(variant, f) or "" for f in CHANNEL_FIELDS[channel])
            if variant.channel == channel and "portal_link" in text:
                return variant
    return None


def portal_link_send(
    *, debtor: Debtor, account: Account, reference: str, actor: str = "portal"
) -> Message | None:
    """Plan the fresh-link message for one request (`reference`: one message per request,
    a retry returns the same row). Returns it planned or blocked, or None when no variant or
    address exists (nothing is written then)."""
    if account.debtor_id != debtor.pk:
        raise ValueError("The account is not the debtor's.")
    variant = portal_link_variant(debtor=debtor, account=account)
    if variant is None:
        return None
    return message_send(
        account=account,
        variant=variant,
        slot=f"portal-link-{reference}"[:64],
        explanation={"why": "fresh portal link requested by the debtor", "transactional": True},
        actor=actor,
    )
