"""Opt-outs: one-click unsubscribes, inbound STOP keywords, complaints.

An opt-out adds `opted_out_<channel>` to the debtor's flags and writes an `opted_out` timeline
entry in the same transaction (`accounts.services.debtor_opt_out`, the flags' one writer);
planning and delivery refuse that channel from then on (and so does compliance, which reads
the same flags).
"""

from __future__ import annotations

import unicodedata

from django.db import transaction

from accounts import services as accounts_services
from accounts.models import Debtor
from messaging.models import Channel, EventKind, Message

# Inbound keywords (after upper-casing and removing accents and punctuation). English ones
# are the carriers' and Twilio's standard set; French ARRET/ARRÊT/STOP and German STOPP.
STOP_KEYWORDS = frozenset(
    {
        "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE",
        "ARRET", "ARRETER", "DESABONNER", "DESINSCRIRE", "DESINSCRIPTION",
        "STOPP", "ABMELDEN", "ABBESTELLEN",
    }
)  # fmt: skip
START_KEYWORDS = frozenset({"START", "UNSTOP"})
# Keywords that opt out even as the first word of a longer text ("Stop texting me"); the
# others ("End", "Cancel", ...) only alone, as a reply may well begin with them.
STOP_FIRST_WORDS = frozenset({"STOP", "STOPALL", "STOPP", "ARRET", "UNSUBSCRIBE"})


def keyword_of(text: str) -> str:
    """`text` as a keyword: upper case, no accents, no spaces or punctuation ("Arrêt !" ->
    "ARRET", "stop all" -> "STOPALL")."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    letters = "".join(ch for ch in decomposed if ch.isalnum() and ch.isascii())
    return letters.upper()


def _first_word_keyword(text: str) -> str:
    words = (text or "").strip().split()
    return keyword_of(words[0]) if words else ""


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


def unsubscribe_apply(
    *, debtor_id: int, channel: str, message_id: int | None, source: str
) -> Debtor | None:
    """An unsubscribe link or one-click POST: opt out and record it on the message."""
    debtor = Debtor.objects.filter(pk=debtor_id).first()
    if debtor is None or channel not in Channel.values:
        return None
    message = (
        Message.objects.filter(pk=message_id, debtor_id=debtor_id).select_related("account").first()
        if message_id
        else None
    )
    debtor_opt_out(debtor=debtor, channel=channel, source=source, message=message)
    if message is not None and message.sent_at is not None:
        from messaging.services.events import event_record

        event_record(
            message=message,
            kind=EventKind.UNSUBSCRIBED,
            event_key=f"unsubscribe:{message.pk}",
            source=source,
        )
    return debtor


def sms_inbound_handle(
    *, from_number: str, body: str, channel: str, provider: str, provider_message_id: str
) -> str:
    """An inbound SMS/WhatsApp: STOP-type keywords opt every debtor with that number out of
    the channel, START opts them back in, anything else is a reply to the last message sent to
    the number. Returns "opted_out", "opted_in", "replied", "unknown" (no such debtor) or
    "replayed".

    Acted on once per `provider_message_id` (Twilio's MessageSid): the receipt and the effects
    commit together, so a captured START replayed after a STOP changes nothing.
    """
    from messaging.services.receipts import webhook_receipt_claim

    if not provider_message_id:
        raise ValueError("an inbound message needs the provider's message id")
    with transaction.atomic():
        key = f"{provider}:inbound:{provider_message_id}"
        if webhook_receipt_claim(key=key, source=provider) != "new":
            return "replayed"
        return _inbound_apply(
            from_number=from_number,
            body=body,
            channel=channel,
            provider=provider,
            provider_message_id=provider_message_id,
        )


def _inbound_apply(
    *, from_number: str, body: str, channel: str, provider: str, provider_message_id: str
) -> str:
    number = from_number.removeprefix("whatsapp:").strip()
    debtors = list(Debtor.objects.filter(phone=number))
    if not debtors:
        return "unknown"
    whole, first = keyword_of(body), _first_word_keyword(body)
    if whole in STOP_KEYWORDS or first in STOP_FIRST_WORDS:
        for debtor in debtors:
            debtor_opt_out(debtor=debtor, channel=channel, source=f"{provider}:keyword")
        return "opted_out"
    if whole in START_KEYWORDS:
        for debtor in debtors:
            debtor_opt_in(debtor=debtor, channel=channel, source=f"{provider}:keyword")
        return "opted_in"
    last = (
        Message.objects.filter(
            debtor__in=debtors, channel=channel, recipient=number, sent_at__isnull=False
        )
        .order_by("-sent_at", "-id")
        .first()
    )
    if last is None:
        return "unknown"
    from messaging.services.events import event_record

    event_record(
        message=last,
        kind=EventKind.REPLIED,
        event_key=f"{provider}:inbound:{provider_message_id}",
        source=provider,
        data={"text": body[:1600]},
    )
    return "replied"
