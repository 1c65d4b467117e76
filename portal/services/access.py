"""The debtor's way in: link exchange, the identity check and its escalating lockout, fresh links
asked for.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.links import LinkInvalid, portal_token_read
from accounts.models import (
    Account,
    Debtor,
)
from messaging.models import MessageStatus
from messaging.services import portal_link_send, portal_lock_notify
from portal.models import (
    LinkRequest,
    LinkRequestStatus,
    LockScope,
    VerificationLock,
)
from portal.services.common import (
    ACTOR,
    _portal_event,
)

logger = logging.getLogger(__name__)

# --- Access: links, identity, lockout ---------------------------------------------------------


def ip_digest(ip: str) -> str:
    """A keyed digest of a client IP: lockouts work per IP without storing the address."""
    return hmac.new(settings.SECRET_KEY.encode(), ip.encode(), hashlib.sha256).hexdigest()


def postal_normalise(value: str) -> str:
    """Upper case, letters and digits only: `sw1a 1aa` and `SW1A-1AA` compare equal."""
    return re.sub(r"[^0-9A-Z]", "", (value or "").upper())


def postal_matches(given: str, on_file: str) -> bool:
    """Normalised equality; a US ZIP+4 matches its 5-digit ZIP either way round."""
    g, f = postal_normalise(given), postal_normalise(on_file)
    if not g or not f:
        return False
    if g.isdigit() and f.isdigit() and {len(g), len(f)} == {5, 9}:
        g, f = g[:5], f[:5]
    return hmac.compare_digest(g, f)


class VerifyOutcome(enum.StrEnum):
    VERIFIED = "verified"
    WRONG = "wrong"
    LOCKED = "locked"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Verification:
    """What the identity check said: `outcome`, and while `LOCKED` until when."""

    outcome: VerifyOutcome
    locked_until: datetime | None = None


def link_open(*, debtor: Debtor, jti: str) -> None:
    """Timeline entry for a portal link exchanged for a session."""
    _portal_event(debtor, "link_opened", "Portal link opened.", jti=jti)


def lockout_steps() -> list[timedelta]:
    """How long each successive lock of one link lasts (`PORTAL_LOCKOUT_STEPS_MINUTES`)."""
    return [timedelta(minutes=m) for m in settings.PORTAL_LOCKOUT_STEPS_MINUTES]


def ip_lockout_applies() -> bool:
    """The per-IP lock counts only where the client's own address is known.

    Without `PORTAL_CLIENT_IP_HEADER` the address may be a proxy's, shared by every debtor,
    and any per-IP limit would let a few wrong answers, or an attacker's, lock everyone out
    (system check portal.W001). The per-link lock and its escalation apply regardless."""
    return bool(settings.PORTAL_CLIENT_IP_HEADER) and settings.PORTAL_LOCKOUT_IP_ATTEMPTS > 0


def _lock_refusal(
    link: VerificationLock | None, ip: VerificationLock | None, now: datetime
) -> Verification | None:
    if link is not None and link.dead_at is not None:
        return Verification(VerifyOutcome.DEAD)
    until = [
        row.locked_until
        for row in (link, ip)
        if row is not None and row.locked_until and row.locked_until > now
    ]
    return Verification(VerifyOutcome.LOCKED, max(until)) if until else None


def verification_state(*, jti: str, ip: str) -> Verification | None:
    """Whether this link is switched off, or it or this IP is locked now (None: neither).

    A read for showing the page; `identity_verify` decides again under the rows' locks."""
    wanted = Q(scope=LockScope.LINK, key=jti)
    if ip_lockout_applies():
        wanted |= Q(scope=LockScope.IP, key=ip_digest(ip))
    rows = {row.scope: row for row in VerificationLock.objects.filter(wanted)}
    return _lock_refusal(rows.get(LockScope.LINK), rows.get(LockScope.IP), timezone.now())


def _lock_row(scope: str, key: str) -> VerificationLock:
    """The counter row of (scope, key), created if missing and locked until the transaction
    ends (SELECT ... FOR UPDATE): whoever holds it is the only one checking and counting."""
    rows = VerificationLock.objects.select_for_update()
    row = rows.filter(scope=scope, key=key).first()
    if row is None:
        # Two first attempts at once: one inserts, the other waits for it and inserts nothing.
        VerificationLock.objects.bulk_create(
            [VerificationLock(scope=scope, key=key, window_started_at=timezone.now())],
            ignore_conflicts=True,
        )
        row = rows.get(scope=scope, key=key)
    return row


def identity_verify(
    *, debtor_id: int, jti: str, ip: str, date_of_birth: date | None, postal_code: str
) -> Verification:
    """Check date of birth and postal code against the record; count and lock failures.

    The link's counter row (and the IP's, where counted) is locked first, so checking the
    lock, comparing the answers and counting a failure are one step: of any number of
    answers sent at once, exactly `PORTAL_LOCKOUT_ATTEMPTS` are compared before the link
    locks, and the others are refused.

    Per link (jti): `PORTAL_LOCKOUT_ATTEMPTS` (5) wrong answers since its last lock, however
    spread out, lock it for the next of `PORTAL_LOCKOUT_STEPS_MINUTES` (15, 60, 1440); one more
    lock after the last step switches the link off for good (`DEAD`): a fresh link is then
    asked for and sent to the contact details on file. Each lock step tells the debtor through
    messaging, once. Per client IP, only where the address is known (`ip_lockout_applies`):
    `PORTAL_LOCKOUT_IP_ATTEMPTS` wrong answers within `PORTAL_LOCKOUT_MINUTES` lock it for as
    long. Every attempt is on the timeline with the lock step, no personal data; the outcome
    never says which answer was wrong.
    """
    with transaction.atomic():
        debtor = Debtor.objects.get(pk=debtor_id)
        # Always the link's row first, then the IP's: two checks never wait on each other
        # in a circle.
        link = _lock_row(LockScope.LINK, jti)
        by_ip = _lock_row(LockScope.IP, ip_digest(ip)) if ip_lockout_applies() else None
        now = timezone.now()
        refused = _lock_refusal(link, by_ip, now)
        if refused is not None:
            _refusal_record(debtor, jti, link, refused)
            return refused
        dob_ok = date_of_birth is not None and debtor.date_of_birth == date_of_birth
        postal_ok = postal_matches(postal_code, debtor.postal_code)
        if dob_ok and postal_ok:
            if link.failures:
                link.failures = 0
                link.save(update_fields=["failures"])
            _portal_event(debtor, "verified", "Identity verified in the portal.", jti=jti)
            return Verification(VerifyOutcome.VERIFIED)
        attempt, locked_now = _link_failure_count(link, now)
        ip_locked = _ip_failure_count(by_ip, now) if by_ip is not None else False
        _failure_record(
            debtor, jti, link, attempt=attempt, locked_now=locked_now, ip_locked=ip_locked
        )
    return _lock_refusal(link, by_ip, now) or Verification(VerifyOutcome.WRONG)


# The steps of `identity_verify`, each run inside its transaction with the rows locked.


def _refusal_record(
    debtor: Debtor, jti: str, link: VerificationLock, refused: Verification
) -> None:
    dead = refused.outcome is VerifyOutcome.DEAD
    _portal_event(
        debtor,
        "verify_locked",
        "Identity check refused: "
        + (
            "the link was switched off after too many wrong answers."
            if dead
            else "locked after too many wrong answers."
        ),
        jti=jti,
        step=link.step,
        dead=dead,
    )


def _link_failure_count(link: VerificationLock, now: datetime) -> tuple[int, bool]:
    """Count a wrong answer on the link's row: (which attempt it was, whether it locked the
    link, for the next step or, after the last, for good)."""
    steps = lockout_steps()
    link.failures += 1
    attempt = link.failures
    locked_now = link.failures >= settings.PORTAL_LOCKOUT_ATTEMPTS
    if locked_now:
        link.step, link.failures = link.step + 1, 0
        if link.step > len(steps):
            link.dead_at, link.locked_until = now, None
        else:
            link.locked_until = now + steps[link.step - 1]
    link.save(update_fields=["failures", "step", "locked_until", "dead_at"])
    return attempt, locked_now


def _ip_failure_count(by_ip: VerificationLock, now: datetime) -> bool:
    """Count a wrong answer on the IP's row, in its window; whether it locked the address."""
    window = timedelta(minutes=settings.PORTAL_LOCKOUT_MINUTES)
    if by_ip.window_started_at < now - window:
        by_ip.failures, by_ip.window_started_at = 0, now
    by_ip.failures += 1
    locked = by_ip.failures >= settings.PORTAL_LOCKOUT_IP_ATTEMPTS
    if locked:
        by_ip.locked_until, by_ip.failures, by_ip.window_started_at = now + window, 0, now
    by_ip.save(update_fields=["failures", "window_started_at", "locked_until"])
    return locked


def _failure_record(
    debtor: Debtor,
    jti: str,
    link: VerificationLock,
    *,
    attempt: int,
    locked_now: bool,
    ip_locked: bool,
) -> None:
    """The wrong answer's timeline entry and, when it locked the link, the debtor's notice
    (sent after commit)."""
    steps = lockout_steps()
    if locked_now and link.dead_at is not None:
        summary = "Identity check failed: the link is switched off; a new one must be asked for."
    elif locked_now:
        minutes = int(steps[link.step - 1].total_seconds() // 60)
        summary = (
            f"Identity check failed: link locked for {minutes} minutes "
            f"(step {link.step} of {len(steps)})."
        )
    elif ip_locked:
        summary = "Identity check failed: locked for now (too many from one address)."
    else:
        summary = "Identity check failed."
    event: dict[str, Any] = {"jti": jti, "attempt": attempt, "locked": locked_now or ip_locked}
    if locked_now:
        event.update(step=link.step, dead=link.dead_at is not None)
        if link.locked_until:
            event["locked_until"] = link.locked_until.isoformat()
        step = link.step
        transaction.on_commit(lambda: lock_notify_dispatch(debtor_id=debtor.pk, jti=jti, step=step))
    _portal_event(debtor, "verify_failed", summary, **event)


def _account_to_write_about(debtor: Debtor) -> Account | None:
    """The account a message to the debtor (not about one debt) goes out on: the most
    recently placed open one, else the most recently placed."""
    accounts = list(debtor.accounts.select_related("creditor").order_by("-placed_at"))
    return next((a for a in accounts if a.is_open), accounts[0] if accounts else None)


def lock_notify_dispatch(*, debtor_id: int, jti: str, step: int) -> None:
    """Tell the debtor that a link was locked (`messaging.services.portal_lock_notify`),
    after commit and once per lock step (the transaction that reached the step calls it,
    and messaging keeps one message per `<jti>-<step>`).

    It goes to the contact details on file through messaging's compliance-checked path. A
    failure there is logged by id and never undoes the lock.
    """
    debtor = Debtor.objects.select_related("creditor").get(pk=debtor_id)
    account = _account_to_write_about(debtor)
    if account is None:
        return
    try:
        message = portal_lock_notify(
            debtor=debtor, account=account, reference=f"{jti}-{step}", actor=ACTOR
        )
    except Exception:
        logger.exception("portal_lock_notify failed for debtor %s", debtor_id)
        return
    if message is None:
        logger.warning(
            "no live lock notice variant or address for debtor %s: not told of the lock",
            debtor_id,
        )


def link_request(*, token: str) -> None:
    """A fresh link asked for from an expired link's page; answers nothing, on purpose.

    Only an authentic token (expired within `PORTAL_RELINK_MAX_AGE_DAYS`) names a debtor;
    then a `LinkRequest` is recorded (at most one an hour per debtor) for messaging to send to
    the contact details on file. An altered token, an unknown debtor or a repeat does nothing,
    and the caller shows the same page in every case.
    """
    try:
        read = portal_token_read(token, max_age=timedelta(days=settings.PORTAL_RELINK_MAX_AGE_DAYS))
    except LinkInvalid:
        return
    debtor = Debtor.objects.filter(pk=read.debtor_id).first()
    if debtor is not None:
        _link_request_record(debtor, old_jti=read.jti)


def link_request_after_lockout(*, debtor_id: int, jti: str) -> None:
    """A fresh link asked for from a link switched off by the lockout (`DEAD`).

    The session that asks was opened with that link's authentic token, so it names the
    debtor as the token would; anything else (a link that is not switched off) does nothing.
    The request is recorded as for an expired link, at most one an hour per debtor.
    """
    dead = VerificationLock.objects.filter(
        scope=LockScope.LINK, key=jti, dead_at__isnull=False
    ).exists()
    debtor = Debtor.objects.filter(pk=debtor_id).first()
    if dead and debtor is not None:
        _link_request_record(debtor, old_jti=jti)


def _link_request_record(debtor: Debtor, *, old_jti: str) -> None:
    since = timezone.now() - timedelta(hours=1)
    with transaction.atomic():
        Debtor.objects.select_for_update().filter(pk=debtor.pk).first()
        if LinkRequest.objects.filter(debtor=debtor, created_at__gte=since).exists():
            return
        request = LinkRequest.objects.create(debtor=debtor, old_jti=old_jti)
        _portal_event(
            debtor,
            "link_requested",
            "A fresh portal link was requested (to the contact details on file).",
            link_request_id=request.pk,
        )
        transaction.on_commit(lambda: link_request_dispatch(link_request_id=request.pk))


def link_request_dispatch(*, link_request_id: int) -> None:
    """Send a requested fresh link (`messaging.services.portal_link_send`), after commit.

    The message goes to the contact details on file through messaging's compliance-checked
    path; the row becomes `sent` once a message is planned. A blocked message (its reasons on
    the timeline) or no suitable variant or address leaves it `pending` (admin).
    """
    request = LinkRequest.objects.select_related("debtor__creditor").get(pk=link_request_id)
    if request.status == LinkRequestStatus.SENT:
        return
    account = _account_to_write_about(request.debtor)
    if account is None:
        return
    try:
        message = portal_link_send(
            debtor=request.debtor, account=account, reference=str(request.pk), actor=ACTOR
        )
    except Exception:
        logger.exception("portal_link_send failed for link request %s", link_request_id)
        return
    if message is None:
        logger.warning(
            "no live fresh-link notice variant or address for link request %s: left pending",
            link_request_id,
        )
    elif message.status != MessageStatus.BLOCKED:
        LinkRequest.objects.filter(pk=request.pk).update(status=LinkRequestStatus.SENT)
