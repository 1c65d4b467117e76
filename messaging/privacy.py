"""The messaging app's share of a debtor's privacy rights (docs/privacy.md).

- `debtor_export`: every message to the debtor (its decision record, status, times, frozen
  content) with what happened to it (events).
- `debtor_rendered`: each message as the debtor received it, rebuilt by `as_sent` (the code
  that built it for the channel): an e-mail as a `.eml` file, a text as `.txt`, a letter as
  its printable `.html` page.
- `debtor_erase`: planned messages cancelled; the rendered content of every message (recipient,
  subject, body, links), the model's reasons for choosing it and the text of replies removed.
  Kept: channel, status, times, provider ids, arm and propensity, the disclosures given and
  the compliance decision's id: what frequency caps and budgets count, what proves a
  disclosure was made, and what the delivery receipts still match.
- `outbox_files_remove`: the files the file backends wrote for some messages (one file per
  message, the letters' batch pages, the blocks of Django's file e-mail backend).
- `contents_remove`: the retention of rendered content, in batches.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.html import escape

from accounts.models import OPEN_STATUSES, Activity, ActivityKind, Debtor, DomainError
from accounts.privacy import ERASED, row, scrubber
from messaging import tracking
from messaging.as_sent import message_as_sent
from messaging.models import Channel, Message, MessageEvent, MessageStatus, channel_label

M = MessageStatus
REMOVED = "[removed]"
"""The recipient of a message whose rendered content was removed (erasure or retention)."""

# What the model said about the debtor when it chose a message: a profile, not evidence.
_PROFILE_KEYS = ("why", "top", "expected", "alternatives")
_FINAL_UNSENT = (M.FAILED, M.BLOCKED, M.CANCELLED)
_STATE_FIELDS = ["status", "status_reason", "status_changed_at", "updated_at", "claim",
                 "claimed_until", "handoff_at"]  # fmt: skip
_BLANK_GIF = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"


class MessagesInFlight(DomainError):
    """A message to the debtor is being handed over right now."""


def _messages(debtor: Debtor) -> QuerySet[Message]:
    return Message.objects.filter(debtor=debtor).order_by("created_at", "id")


# --- export ------------------------------------------------------------------------------------


def debtor_export(*, debtor: Debtor) -> dict[str, Any]:
    events: dict[int, list[dict[str, Any]]] = {}
    for event in MessageEvent.objects.filter(message__debtor=debtor).order_by("occurred_at", "id"):
        events.setdefault(event.message_id, []).append(row(event))
    return {
        "messages": [
            {
                **row(m, exclude=("claim", "claimed_until")),
                "variant_name": m.variant.name,
                "content_removed": m.recipient == REMOVED,
                "rendered_file": _file_name(m) if _rendered(m) else "",
                "events": events.get(m.pk, []),
            }
            for m in _messages(debtor).select_related("variant")
        ]
    }


def _rendered(message: Message) -> bool:
    return bool(message.body) and message.recipient != REMOVED


def _file_name(message: Message) -> str:
    extension = {Channel.EMAIL: "eml", Channel.LETTER: "html"}.get(message.channel, "txt")
    return f"messages/{message.pk}-{message.channel}.{extension}"


def debtor_rendered(*, debtor: Debtor) -> list[tuple[str, bytes]]:
    """(archive path, content) of every message whose content is still held, as received."""
    files = []
    for message in _messages(debtor).select_related("debtor", "account__creditor"):
        if not _rendered(message):
            continue
        sent = message_as_sent(message)
        if message.channel == Channel.EMAIL:
            content = _eml(message, sent)
        elif message.channel == Channel.LETTER:
            content = sent.html.encode()
        else:
            when = message.sent_at.isoformat() if message.sent_at else "not sent"
            content = f"To: {sent.recipient}\nSent: {when}\n\n{sent.text}\n".encode()
        files.append((_file_name(message), content))
    return files


def _eml(message: Message, sent) -> bytes:
    """The e-mail as handed to the mail server. Only the open pixel is blanked, so that
    reading the export is never counted as reading the message."""
    headers = dict(sent.headers)
    if message.sent_at:
        headers["Date"] = format_datetime(message.sent_at)
    email = EmailMultiAlternatives(
        subject=sent.subject,
        body=sent.text,
        from_email=sent.sender,
        to=[sent.recipient],
        headers=headers,
    )
    if sent.html:
        pixel = tracking.open_url(message_id=message.pk)
        html = sent.html.replace(escape(pixel), _BLANK_GIF).replace(pixel, _BLANK_GIF)
        email.attach_alternative(html, "text/html")
    return email.message().as_bytes()


# --- erasure -----------------------------------------------------------------------------------


def debtor_erase(*, debtor: Debtor, names: Iterable[str], actor: str, at: datetime) -> dict:
    """Cancel the debtor's planned messages and remove the personal content of all of them;
    call inside the erasure's transaction (`names` from `accounts.privacy.identifiers`).

    Refused (`MessagesInFlight`) while a message is claimed by a dispatcher: its hand-off is
    under way with the content it read, and the erasure is tried again a few minutes later.
    """
    scrub = scrubber(names)
    # Locked first: a dispatcher claims with SKIP LOCKED, so none of these can start a
    # hand-off until the erasure commits.
    statuses = dict(
        Message.objects.select_for_update()
        .filter(debtor=debtor)
        .order_by("id")
        .values_list("id", "status")
    )
    if M.QUEUED in statuses.values():
        raise MessagesInFlight(
            "A message to this debtor is being handed over right now; try again in a few minutes."
        )
    messages = list(Message.objects.filter(pk__in=list(statuses)).order_by("id"))
    cancelled = []
    for message in messages:
        if message.status == M.PLANNED:
            message.transition(M.CANCELLED, reason="The debtor's personal data was erased.", at=at)
            cancelled.append(
                Activity(
                    creditor_id=message.creditor_id,
                    debtor_id=message.debtor_id,
                    account_id=message.account_id,
                    kind=ActivityKind.MESSAGE_CANCELLED,
                    summary=f"{channel_label(message.channel)} message cancelled: the debtor's "
                    "personal data was erased.",
                    data={"message_id": message.pk, "channel": message.channel},
                    actor=actor[:100],
                    occurred_at=at,
                )
            )
        message.recipient, message.subject, message.body, message.links = REMOVED, "", "", []
        message.explanation = {
            k: v for k, v in (message.explanation or {}).items() if k not in _PROFILE_KEYS
        }
        message.status_reason = scrub(message.status_reason)
    Message.objects.bulk_update(
        messages,
        [*_STATE_FIELDS, "recipient", "subject", "body", "links", "explanation"],
        batch_size=500,
    )
    Activity.objects.bulk_create(cancelled)
    events = 0
    for event in MessageEvent.objects.filter(message__debtor=debtor).only("id", "data"):
        data = scrub({k: ERASED if k == "text" else v for k, v in (event.data or {}).items()})
        if data != event.data:
            MessageEvent.objects.filter(pk=event.pk).update(data=data)
            events += 1
    return {"messages": len(messages), "cancelled": len(cancelled), "events_scrubbed": events}


def debtor_outbox_files_remove(*, debtor: Debtor) -> int:
    return outbox_files_remove(Message.objects.filter(debtor=debtor).values_list("id", flat=True))


def outbox_files_remove(message_ids: Iterable[int]) -> int:
    """Delete what the file backends wrote for these messages; returns how many files were
    deleted or rewritten. Safe to repeat."""
    ids = {int(i) for i in message_ids}
    if not ids:
        return 0
    root = Path(settings.MESSAGING_OUTBOX_DIR)
    done = 0
    # JsonFileBackend: <outbox>/<channel>/<id>.json
    for channel in (Channel.EMAIL, Channel.SMS, Channel.WHATSAPP):
        folder = root / channel
        if folder.is_dir():
            done += _unlink_named(folder, ids, ".json")
    # LetterBatchBackend: <outbox>/letters/<day>/<id>.html
    letters = root / "letters"
    if letters.is_dir():
        for batch in letters.iterdir():
            if batch.is_dir():
                done += _unlink_named(batch, ids, ".html")
    done += _mail_files_scrub(ids)
    return done


def _unlink_named(folder: Path, ids: set[int], suffix: str) -> int:
    done = 0
    for path in folder.iterdir():
        if path.suffix == suffix and path.stem.isdigit() and int(path.stem) in ids:
            path.unlink(missing_ok=True)
            done += 1
    return done


_SEPARATOR = "-" * 79 + "\n"
_MESSAGE_ID_RE = re.compile(r"^Message-ID: <msg-(\d+)\.", re.MULTILINE | re.IGNORECASE)


def _mail_files_scrub(ids: set[int]) -> int:
    """Django's file e-mail backend appends every e-mail of a connection to one file, each
    followed by a line of 79 dashes: drop the blocks of these messages (by their Message-ID)."""
    if not settings.EMAIL_BACKEND.endswith("filebased.EmailBackend"):
        return 0
    folder = Path(settings.EMAIL_FILE_PATH or "")
    if not str(folder) or not folder.is_dir():
        return 0
    done = 0
    for path in folder.iterdir():
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        blocks = text.split(_SEPARATOR)
        kept = [b for b in blocks if not _names_one_of(b, ids)]
        if len(kept) == len(blocks):
            continue
        done += 1
        rest = _SEPARATOR.join(kept)
        if not rest.strip():
            path.unlink(missing_ok=True)
            continue
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(rest, encoding="utf-8", errors="surrogateescape")
        os.replace(tmp, path)
    return done


def _names_one_of(block: str, ids: set[int]) -> bool:
    return any(int(m.group(1)) in ids for m in _MESSAGE_ID_RE.finditer(block))


# --- retention ---------------------------------------------------------------------------------


def _content_expired(*, region: Q, cutoff: datetime, after_final: bool) -> QuerySet[Message]:
    """Messages in `region` (a Q on `Message`) still holding content, sent (or, never sent,
    final) before `cutoff`; with `after_final`, only those whose account is final since
    before `cutoff` too."""
    expired = (
        Message.objects.filter(region)
        .exclude(recipient=REMOVED)
        .filter(
            Q(sent_at__lt=cutoff)
            | Q(sent_at__isnull=True, status__in=_FINAL_UNSENT, status_changed_at__lt=cutoff)
        )
    )
    if after_final:
        expired = expired.exclude(account__status__in=list(OPEN_STATUSES)).filter(
            account__status_changed_at__lt=cutoff
        )
    return expired


def contents_remove(
    *, region: Q, cutoff: datetime, after_final: bool, batch: int, dry_run: bool
) -> int:
    """Remove the rendered content (recipient, subject, body, links) of expired messages and
    their outbox files; how many messages (with `dry_run`, how many would be). One
    transaction per `batch`; the files of a batch go just before it commits, so a killed run
    leaves no file whose row says it was removed."""
    expired = _content_expired(region=region, cutoff=cutoff, after_final=after_final)
    if dry_run:
        return expired.count()
    removed = 0
    while True:
        with transaction.atomic():
            ids = list(
                expired.select_for_update(skip_locked=True, of=("self",))
                .order_by("id")
                .values_list("id", flat=True)[:batch]
            )
            if not ids:
                return removed
            removed += Message.objects.filter(pk__in=ids).update(
                recipient=REMOVED, subject="", body="", links=[]
            )
            outbox_files_remove(ids)
