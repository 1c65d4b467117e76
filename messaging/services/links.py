"""`portal_link_send`: a fresh portal link, asked for by the debtor from an expired link.

A transactional message, but it still leaves through `message_send`: the same account and
flag checks, opt-outs and consent, the region's compliance rules (hours, holidays and the
frequency caps) with an audited decision, and the content checks. Caps are not waived: a
debtor-initiated request is not an exemption the rule packs name. Outside the region's hours,
or over a cap that lifts later, it is planned for the first moment the rules allow, as the
notices below are; a request the rules never allow is a `blocked` message with its reasons on
the timeline. It goes only to the address or number on file (`content.recipient_for`);
nothing typed in is used.

The content is a live variant whose call to action is "Notice: a fresh portal link" (it
carries `{{ portal_link }}`, rendered with a freshly signed token, or on paper with the
debtor's letter code of the day), in the debtor's language and region.

Every notice here goes by email first, then SMS, then letter: a debtor reached only by post
still gets a fresh link, is told of a lock and hears a dispute's outcome (a letter's portal
link is a code to type, valid `PORTAL_LETTER_LINK_MAX_AGE_DAYS`: `accounts.links`).

`portal_lock_notify`: the portal locked one of the debtor's links after wrong identity
answers; the debtor is told on the same terms (a live "Security notice: portal link locked"
variant through `message_send` to the details on file). Nothing the person at the portal
typed reaches it: the variant's text has only the library's placeholders, and no placeholder
holds a date of birth or a postal code.

`notice_send`: how such a notice is planned (these and the dispute outcome's, in `notices`):
its variant chosen, then planned now or for the next moment the rules allow.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from accounts.models import Account, Debtor
from compliance import services as compliance
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

_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.LETTER)
"""The order a notice's channel is chosen in: the first with an address on file and no
opt-out. A letter comes last: days in the post, and a cost."""


def _variant_for(
    *, debtor: Debtor, account: Account, cta: str, needs: str = ""
) -> MessageVariant | None:
    """The first live variant with call to action `cta` (and the placeholder `needs`) for the
    debtor's language and region, on the first channel of `_CHANNELS` with an address on
    file and no opt-out, or None."""
    language = debtor.language or account.creditor.locale.split("-")[0]
    pool = [
        v
        for v in variants_live().filter(cta=cta).order_by("pk")
        if v.language == language and region_tags_match(v.regions, debtor.region)
    ]
    for channel in _CHANNELS:
        # No address on file, opted out, no consent: try the next channel.
        if precheck(account=account, channel=channel, stage="", cta=cta) is not None:
            continue
        for variant in pool:
            text = " ".join(getattr(variant, f) or "" for f in CHANNEL_FIELDS[channel])
            if variant.channel == channel and needs in text:
                return variant
    return None


def portal_link_send(
    *, debtor: Debtor, account: Account, reference: str, actor: str = "portal"
) -> Message | None:
    """Plan the fresh-link message for one request (`reference`: one message per request,
    a retry returns the same row): now, or for the next moment the region's rules allow.
    Returns it planned or blocked, or None when no variant or address exists (nothing is
    written then)."""
    if account.debtor_id != debtor.pk:
        raise ValueError("The account is not the debtor's.")
    return notice_send(
        debtor=debtor,
        account=account,
        cta=CallToAction.PORTAL_LINK,
        needs="portal_link",
        slot=f"portal-link-{reference}",
        explanation={"why": "fresh portal link requested by the debtor"},
        actor=actor,
    )


def portal_lock_notify(
    *, debtor: Debtor, account: Account, reference: str, actor: str = "portal"
) -> Message | None:
    """Tell the debtor that a portal link of theirs was locked after wrong identity answers.

    `reference` names the lock (link and step): one message per reference, a retry returns
    the same row. Returns the message planned or blocked, or None when no live "Security
    notice: portal link locked" variant or no address fits (nothing is written then). When
    the region's rules do not allow a message now but will later (hours, holidays, a cap),
    it is planned for then; the audited check runs again when it is planned and sent."""
    if account.debtor_id != debtor.pk:
        raise ValueError("The account is not the debtor's.")
    return notice_send(
        debtor=debtor,
        account=account,
        cta=CallToAction.PORTAL_LOCKED,
        slot=f"portal-lock-{reference}",
        explanation={"why": "portal link locked after wrong identity answers"},
        actor=actor,
    )


def notice_send(
    *,
    debtor: Debtor,
    account: Account,
    cta: str,
    slot: str,
    explanation: dict[str, Any],
    actor: str,
    needs: str = "",
) -> Message | None:
    """Plan a transactional notice: the first live variant with call to action `cta` (and the
    placeholder `needs`) for the debtor (`_variant_for`), sent now, or planned for the next
    moment the region's rules allow when they do not allow it now (hours, holidays, a cap);
    the audited check runs again when it is planned and sent. One message per `slot` (cut to
    64 characters): a retry returns the same row. None when no live variant or no address
    fits (nothing is written then)."""
    variant = _variant_for(debtor=debtor, account=account, cta=cta, needs=needs)
    if variant is None:
        return None
    (check,) = compliance.contacts_check_many(
        checks=[
            compliance.CheckRequest(
                debtor=debtor, channel=variant.channel, at=timezone.now(), account=account,
                purpose="send",
            )
        ],
        audit=False,
    )  # fmt: skip
    later = check.next_allowed_at if not check.allowed and check.next_allowed_at else None
    return message_send(
        account=account,
        variant=variant,
        planned_at=later,
        slot=slot[:64],
        explanation={**explanation, "transactional": True},
        actor=actor,
    )
