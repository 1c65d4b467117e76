"""What a debtor asks for: a payment plan, a pause, a dispute (with its documents), a call back."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import (
    Account,
    AccountStatus,
    ActivityKind,
    Debtor,
    DomainError,
    PaymentPlan,
)
from accounts.services import (
    PLANNABLE as PLANNABLE,  # the statuses `plan_check` lets a plan start from
)
from accounts.services import (
    PlanRefused,
    account_dispute,
    account_pause,
    activity_record,
    plan_check,
    plan_create,
)
from accounts.webhooks.events import dispute_event
from accounts.webhooks.models import EventType
from portal.models import (
    CALLBACK_HOURS,
    CallbackRequest,
    CallbackStatus,
    DisputeReason,
    PauseReason,
    PauseRequest,
    PortalDispute,
)
from portal.selectors import debtor_today, debtor_zone
from portal.services.common import (
    ACTOR,
    CALLBACK_DAYS,
    STAGE_PAUSE_ENDING,
    PortalError,
)
from portal.services.conversion import (
    _conversion_after_commit,
)
from portal.services.disputes import dispute_response_days

logger = logging.getLogger(__name__)

# --- Plans ------------------------------------------------------------------------------------


def plan_refusal(exc: PlanRefused) -> PortalError:
    """A plan rule's refusal in the debtor's words, next to the field it concerns.

    `accounts.services.plan_check` owns the rules; the portal only words them (its catalogue
    has the French and German), so its plan page and `plan_accept` say the same thing.
    """
    if exc.rule == "status":
        message = _("A payment plan cannot be set up for this account now.")
    elif exc.rule == "frequency":
        message = _("Choose how often to pay.")
    elif exc.rule == "min_count":
        message = _("Choose at least two instalments.")
    elif exc.rule in ("first_due_past", "first_due_late"):
        message = _("Choose a date within the next 30 days.")
    elif exc.field == "count":  # too long or too small an instalment, whatever the start
        message = _("Choose between %(min)s and %(max)s instalments for this frequency.") % {
            "min": exc.params["minimum"],
            "max": exc.params["maximum"],
        }
    elif exc.rule == "max_months":  # the count fits from today; the start date pushes it out
        message = _("This plan is outside what the creditor allows.")
    else:
        message = _("This plan is not possible: %(reason)s") % {"reason": exc}
    return PortalError(message, field=exc.field, rule=exc.rule)


def plan_preview(
    *, account: Account, frequency: str, count: int, first_due: date
) -> list[tuple[date, Decimal]]:
    """The schedule of the plan the debtor is choosing, or the `PortalError` that refuses it."""
    try:
        return plan_check(
            account=account,
            frequency=frequency,
            count=count,
            first_due=first_due,
            self_service=True,
        )
    except PlanRefused as exc:
        raise plan_refusal(exc) from exc


def plan_accept(*, account: Account, frequency: str, count: int, first_due: date) -> PaymentPlan:
    """Agree the plan the debtor chose; a refusal is a `PortalError` naming its field.

    Every rule is `accounts.services.plan_check`'s, applied by `plan_create` to the locked
    account with the self-service limits (at least two instalments, the first payment within
    `PLAN_START_DAYS`).
    """
    try:
        with transaction.atomic():
            # A plan ends a breathing space the debtor no longer needs.
            plan = plan_create(
                account=account,
                frequency=frequency,
                count=count,
                first_due=first_due,
                actor=ACTOR,
                end_pause=True,
                self_service=True,
            )
            _conversion_after_commit(account.pk, "plan", f"plan:{plan.pk}")
    except PlanRefused as exc:
        raise plan_refusal(exc) from exc
    except DomainError as exc:
        raise PortalError(_("This plan is not possible: %(reason)s") % {"reason": exc}) from exc
    return plan


# --- Pause ------------------------------------------------------------------------------------

PAUSABLE = (AccountStatus.ACTIVE, AccountStatus.IN_PLAN)


def pause_request(*, account: Account, reason: str, days: int, actor: str = ACTOR) -> PauseRequest:
    """A breathing space: the account is paused until today + `days` (debtor's calendar).

    Contact stops while paused. Resuming is the planner's job: on `paused_until` it moves
    the account back (to `in_plan` when it has an active plan, else `active`) and contacts
    with the `pause_ending` stage (docs/portal.md). `actor` is who asked: the debtor in the
    portal, or a staff user (`admin:<id>`) pausing it for them from a work queue; the same
    rules apply either way.
    """
    if reason not in PauseReason.values:
        raise PortalError(_("Choose a reason."))
    limit = account.creditor.max_pause_days
    if not 1 <= days <= limit:
        raise PortalError(_("Choose between 1 and %(days)s days.") % {"days": limit})
    with transaction.atomic():
        locked = Account.objects.select_for_update().select_related("debtor").get(pk=account.pk)
        if locked.status not in PAUSABLE:
            raise PortalError(_("This account cannot be paused now."))
        until = debtor_today(locked.debtor) + timedelta(days=days)
        pause = PauseRequest.objects.create(
            account=locked, reason=reason, days=days, until=until, previous_status=locked.status
        )
        locked = account_pause(
            account=locked,
            days=days,
            until=until,
            actor=actor,
            data={"pause_request_id": pause.pk, "stage_after": STAGE_PAUSE_ENDING},
        )
    account.status, account.paused_until = locked.status, locked.paused_until
    return pause


# --- Dispute ----------------------------------------------------------------------------------

_SIGNATURES: tuple[tuple[bytes, str, tuple[str, ...]], ...] = (
    (b"%PDF-", "application/pdf", ("pdf",)),
    (b"\x89PNG\r\n\x1a\n", "image/png", ("png",)),
    (b"\xff\xd8\xff", "image/jpeg", ("jpg", "jpeg")),
)


@dataclass(frozen=True, slots=True)
class DocumentKind:
    content_type: str
    extension: str


def document_check(upload: UploadedFile) -> DocumentKind:
    """A PDF, PNG or JPEG of at most `PORTAL_UPLOAD_MAX_BYTES`, judged by its first bytes.

    The extension must agree with the content, so a renamed executable is refused.
    """
    limit = settings.PORTAL_UPLOAD_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise PortalError(
            _("The document is too large (at most %(mb)s MB).") % {"mb": limit // (1024 * 1024)}
        )
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    extension = (upload.name or "").rsplit(".", 1)[-1].lower() if "." in (upload.name or "") else ""
    for magic, content_type, extensions in _SIGNATURES:
        if head.startswith(magic) and extension in extensions:
            return DocumentKind(content_type, extensions[0])
    raise PortalError(_("Upload a PDF, PNG or JPG document."))


DISPUTABLE = (AccountStatus.ACTIVE, AccountStatus.IN_PLAN, AccountStatus.PAUSED)


def dispute_raise(
    *, account: Account, reason: str, details: str = "", document: UploadedFile | None = None
) -> PortalDispute:
    """Flag the account disputed: compliance stops collection contact until an operator
    resolves it. An active plan is cancelled (a disputed account cannot stay in a plan). The
    creditor's `dispute.opened` event commits with it."""
    if reason not in DisputeReason.values:
        raise PortalError(_("Choose a reason."))
    details = (details or "").strip()
    if len(details) > 2000:
        raise PortalError(_("Please keep the explanation under 2,000 characters."))
    kind = document_check(document) if document else None
    with transaction.atomic():
        locked = Account.objects.select_for_update().select_related("debtor").get(pk=account.pk)
        if locked.status not in DISPUTABLE:
            raise PortalError(_("This account cannot be disputed here now."))
        dispute = PortalDispute(
            account=locked,
            reason=reason,
            details=details,
            due_at=timezone.now() + timedelta(days=dispute_response_days(locked.debtor.region)),
        )
        if document is not None and kind is not None:
            dispute.document.save(f"{uuid.uuid4().hex}.{kind.extension}", document, save=False)
            dispute.document_type = kind.content_type
            dispute.document_size = document.size
        dispute.save()
        locked = account_dispute(
            account=locked,
            actor=ACTOR,
            summary="Debt disputed in the portal"
            + (" with a document." if document is not None else "."),
            data={"dispute_id": dispute.pk, "reason": reason, "document": document is not None},
        )
        dispute_event(dispute, EventType.DISPUTE_OPENED)
    account.status = locked.status
    return dispute


# --- Call back --------------------------------------------------------------------------------


def callback_request(
    *, debtor: Debtor, account: Account | None, day: date, window: str
) -> CallbackRequest:
    """Ask for a call on the number on file, `day` in `window` (debtor's local time).

    Appears as an open task in the admin's call-back list. One open request at a time.
    """
    if window not in CALLBACK_HOURS:
        raise PortalError(_("Choose a time window."))
    if not debtor.phone:
        raise PortalError(_("We have no phone number for you. Please contact us another way."))
    today = debtor_today(debtor)
    if not today <= day <= today + timedelta(days=CALLBACK_DAYS):
        raise PortalError(_("Choose a day within the next two weeks."))
    zone = debtor_zone(debtor)
    start_hour, end_hour = CALLBACK_HOURS[window]
    start = datetime.combine(day, time(start_hour), tzinfo=zone)
    end = datetime.combine(day, time(end_hour), tzinfo=zone)
    if end <= timezone.now() + timedelta(minutes=30):
        raise PortalError(_("That time has passed. Choose a later window."))
    with transaction.atomic():
        Debtor.objects.select_for_update().filter(pk=debtor.pk).first()
        if CallbackRequest.objects.filter(debtor=debtor, status=CallbackStatus.OPEN).exists():
            raise PortalError(_("You already have a call back booked."))
        callback = CallbackRequest.objects.create(
            debtor=debtor, account=account, window=window, window_start=start, window_end=end
        )
        activity_record(
            debtor=debtor,
            account=account,
            kind=ActivityKind.CALLBACK_REQUESTED,
            summary=f"Call back requested for {day} ({window}).",
            data={"callback_id": callback.pk, "date": day.isoformat(), "window": window},
            actor=ACTOR,
        )
    return callback


def callback_mark_done(*, callback: CallbackRequest, actor: str) -> CallbackRequest:
    """An operator made the call: the task leaves the open list."""
    with transaction.atomic():
        locked = CallbackRequest.objects.select_for_update().get(pk=callback.pk)
        if locked.status == CallbackStatus.DONE:
            return locked
        locked.status = CallbackStatus.DONE
        locked.done_at = timezone.now()
        locked.done_by = actor[:100]
        locked.save(update_fields=["status", "done_at", "done_by"])
        activity_record(
            debtor=locked.debtor,
            account=locked.account,
            kind=ActivityKind.ADMIN_CHANGE,
            summary="Requested call back made.",
            data={"callback_id": locked.pk, "status": CallbackStatus.DONE},
            actor=actor,
        )
    return locked
