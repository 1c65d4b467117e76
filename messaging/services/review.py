"""The failed hand-offs queue's two answers: re-send a failed message, or close it.

A message fails when its backend refused it for good, its attempts ran out, the provider
reported a failure, or the dispatcher stopped during hand-off and the backend cannot say
whether it went (`handoff_unconfirmed`: it may have reached the debtor). Its own row stays
failed: the outbox is a record. An operator answers once per message (`HandoffReview`):

- `handoff_resend`: a new message through `message_send` (the same variant and stage, in a
  slot named after the failed message), so every check runs again at this moment: account,
  flags, opt-outs, consent and the audited compliance decision. It may come out blocked; the
  reasons are on it and on the timeline.
- `handoff_close`: nothing is sent; the reason is recorded.

Both lock the failed message and look for its review first, so a double click (or two
operators at once) finds the first answer and sends nothing twice.
"""

from __future__ import annotations

from django.db import transaction

from accounts.models import ActivityKind, DomainError
from accounts.services import activity_record
from messaging.models import HandoffReview, Message, MessageStatus, ReviewAction
from messaging.services.sending import message_send


class HandoffReviewError(DomainError):
    """The message cannot be answered this way (not failed, variant withdrawn, no reason)."""


def _locked_failed(message: Message | int) -> tuple[Message, HandoffReview | None]:
    pk = message if isinstance(message, int) else message.pk
    locked = (
        Message.objects.select_for_update(of=("self",))
        .select_related("account__debtor", "account__creditor", "variant")
        .get(pk=pk)
    )
    review = HandoffReview.objects.filter(message=locked).first()
    if review is None and locked.status != MessageStatus.FAILED:
        raise HandoffReviewError("Only a failed message can be re-sent or closed here.")
    return locked, review


def handoff_resend(*, message: Message | int, actor: str) -> HandoffReview:
    """Send the failed `message` again as a new message (see the module). Returns the review;
    an earlier answer (re-sent or closed) is returned unchanged."""
    with transaction.atomic():
        failed, review = _locked_failed(message)
        if review is not None:
            return review
        variant = failed.variant
        if not variant.live:
            raise HandoffReviewError(
                "The message's variant is no longer live: choose another message in the library."
            )
        resent = message_send(
            account=failed.account,
            variant=variant,
            slot=f"resend-{failed.pk}",
            stage=failed.stage if failed.stage in (variant.stages or []) else "",
            explanation={
                "why": f"re-sent by an operator after message {failed.pk} failed",
                "resend_of": failed.pk,
            },
            actor=actor,
        )
        review = HandoffReview.objects.create(
            message=failed,
            creditor_id=failed.creditor_id,
            action=ReviewAction.RESENT,
            resent=resent,
            actor=actor[:100],
        )
        activity_record(
            debtor=failed.account.debtor,
            account=failed.account,
            kind=ActivityKind.ADMIN_CHANGE,
            summary=f"Failed message {failed.pk} re-sent as message {resent.pk} "
            f"({resent.get_status_display().lower()}).",
            data={"message_id": failed.pk, "resent_id": resent.pk, "review": "resent"},
            actor=actor,
        )
    return review


def handoff_close(*, message: Message | int, reason: str, actor: str) -> HandoffReview:
    """Close the failed `message` without sending anything; `reason` (required) is recorded.
    An earlier answer is returned unchanged."""
    reason = (reason or "").strip()
    if not reason:
        raise HandoffReviewError("Say why the message is closed.")
    with transaction.atomic():
        failed, review = _locked_failed(message)
        if review is not None:
            return review
        review = HandoffReview.objects.create(
            message=failed,
            creditor_id=failed.creditor_id,
            action=ReviewAction.CLOSED,
            reason=reason[:300],
            actor=actor[:100],
        )
        activity_record(
            debtor=failed.account.debtor,
            account=failed.account,
            kind=ActivityKind.ADMIN_CHANGE,
            summary=f"Failed message {failed.pk} closed by an operator without re-sending.",
            data={"message_id": failed.pk, "review": "closed"},
            actor=actor,
        )
    return review
