"""Writes of the portal. Each public function validates, then does its writes in one
transaction together with the debtor's timeline entry.

Callers: `portal.views` (the debtor), `portal.admin` (operators), `portal.tasks` (the
scheduler) and the Stripe webhook. Money and status changes go through `accounts.services`
(`payment_record`, `plan_create`, `account_transition`) or through the `Account.transition`
state machine under a row lock, never by writing fields around it.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import money
from accounts.links import LinkInvalid, portal_token_read
from accounts.models import (
    CHANNEL_CHOICES,
    Account,
    AccountStatus,
    ActivityKind,
    Debtor,
    DomainError,
    Installment,
    InstallmentStatus,
    Payment,
    PaymentMethod,
    PaymentPlan,
    PlanStatus,
)
from accounts.selectors import instalment_next
from accounts.services import (
    PaymentRefused,
    account_transition,
    activity_record,
    payment_record,
    plan_create,
)
from messaging.models import MessageStatus
from messaging.services import conversion_attribute, portal_link_send, portal_lock_notify
from portal.gateways import CardInput, ChargeResult, ChargeStatus, GatewayError, gateway_get
from portal.gateways.sandbox import SandboxGateway
from portal.models import (
    CALLBACK_HOURS,
    CallbackRequest,
    CallbackStatus,
    Checkout,
    CheckoutPurpose,
    CheckoutStatus,
    DisputeReason,
    DisputeStatus,
    LinkRequest,
    LinkRequestStatus,
    LockScope,
    PauseReason,
    PauseRequest,
    PortalDispute,
    SettlementOffer,
    SettlementStatus,
    VerificationLock,
)

logger = logging.getLogger(__name__)

ACTOR = "debtor"
CHANNELS: tuple[str, ...] = tuple(code for code, _label in CHANNEL_CHOICES)

# Stage names the planner (recommender) reads from `Activity.data["stage"]`; see docs/portal.md.
STAGE_MISSED_INSTALMENT = "missed_instalment"
STAGE_PAUSE_ENDING = "pause_ending"

# How far ahead a plan's first payment and a call back may be booked (the pages say "within
# the next 30 days" and "within the next two weeks").
PLAN_START_DAYS = 30
CALLBACK_DAYS = 14


class PortalError(DomainError):
    """The debtor asked for something the rules do not allow; the message is translated."""


def _portal_event(
    debtor: Debtor, event: str, summary: str, *, account: Account | None = None, **data: Any
) -> None:
    """A `portal` entry on the debtor's timeline; `data["event"]` names what happened."""
    activity_record(
        debtor=debtor,
        account=account,
        kind=ActivityKind.PORTAL,
        summary=summary,
        data={"event": event, **data},
        actor=ACTOR,
    )


def debtor_today(debtor: Debtor) -> date:
    """Today's date on the debtor's wall clock."""
    return timezone.localtime(timezone=debtor_zone(debtor)).date()


def debtor_zone(debtor: Debtor) -> ZoneInfo:
    try:
        return ZoneInfo(debtor.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


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
    attempts = settings.PORTAL_LOCKOUT_ATTEMPTS
    steps = lockout_steps()
    with transaction.atomic():
        debtor = Debtor.objects.get(pk=debtor_id)
        # Always the link's row first, then the IP's: two checks never wait on each other
        # in a circle.
        link = _lock_row(LockScope.LINK, jti)
        by_ip = _lock_row(LockScope.IP, ip_digest(ip)) if ip_lockout_applies() else None
        now = timezone.now()
        refused = _lock_refusal(link, by_ip, now)
        if refused is not None:
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
            return refused
        dob_ok = date_of_birth is not None and debtor.date_of_birth == date_of_birth
        postal_ok = postal_matches(postal_code, debtor.postal_code)
        if dob_ok and postal_ok:
            if link.failures:
                link.failures = 0
                link.save(update_fields=["failures"])
            _portal_event(debtor, "verified", "Identity verified in the portal.", jti=jti)
            return Verification(VerifyOutcome.VERIFIED)

        link.failures += 1
        attempt = link.failures
        locked_now = link.failures >= attempts
        if locked_now:
            link.step, link.failures = link.step + 1, 0
            if link.step > len(steps):
                link.dead_at, link.locked_until = now, None
            else:
                link.locked_until = now + steps[link.step - 1]
        link.save(update_fields=["failures", "step", "locked_until", "dead_at"])
        ip_locked = False
        if by_ip is not None:
            window = timedelta(minutes=settings.PORTAL_LOCKOUT_MINUTES)
            if by_ip.window_started_at < now - window:
                by_ip.failures, by_ip.window_started_at = 0, now
            by_ip.failures += 1
            if by_ip.failures >= settings.PORTAL_LOCKOUT_IP_ATTEMPTS:
                by_ip.locked_until, by_ip.failures, by_ip.window_started_at = now + window, 0, now
                ip_locked = True
            by_ip.save(update_fields=["failures", "window_started_at", "locked_until"])

        if locked_now and link.dead_at is not None:
            summary = (
                "Identity check failed: the link is switched off; a new one must be asked for."
            )
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
            transaction.on_commit(
                lambda: lock_notify_dispatch(debtor_id=debtor.pk, jti=jti, step=step)
            )
        _portal_event(debtor, "verify_failed", summary, **event)
    return _lock_refusal(link, by_ip, now) or Verification(VerifyOutcome.WRONG)


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
    if message is not None and message.status != MessageStatus.BLOCKED:
        LinkRequest.objects.filter(pk=request.pk).update(status=LinkRequestStatus.SENT)


def conversion_notify(*, account_id: int, kind: str, at: datetime, reference: str = "") -> None:
    """Tell messaging a payment or plan happened, so the last message can be marked converted.

    `reference` is the payment or plan id, so a repeat is credited once. Runs after commit;
    a failure there never undoes the debtor's payment.
    """
    try:
        conversion_attribute(
            account=Account.objects.get(pk=account_id), at=at, kind=kind, reference=reference
        )
    except Exception:
        logger.exception("conversion_attribute failed for account %s", account_id)


def _conversion_after_commit(account_id: int, kind: str, reference: str) -> None:
    at = timezone.now()
    transaction.on_commit(
        lambda: conversion_notify(account_id=account_id, kind=kind, at=at, reference=reference)
    )


# --- Payments ---------------------------------------------------------------------------------


def checkout_amount(
    *,
    account: Account,
    purpose: str,
    amount: str | Decimal | None = None,
    offer: SettlementOffer | None = None,
) -> Decimal:
    """What a payment of `purpose` is for, checked against the account now."""
    if not account.is_open:
        raise PortalError(_("This account does not take payments any more."))
    if purpose == CheckoutPurpose.FULL:
        return account.balance
    if purpose == CheckoutPurpose.PART:
        try:
            value = money.parse_amount(str(amount or "").strip(), account.currency)
        except money.MoneyError as exc:
            raise PortalError(_("Enter an amount such as 25.00.")) from exc
        if value <= 0 or value > account.balance:
            raise PortalError(_("Enter an amount greater than zero and at most the balance."))
        return value
    if purpose == CheckoutPurpose.INSTALMENT:
        instalment = instalment_next(account_id=account.pk)
        if instalment is None:
            raise PortalError(_("There is no instalment to pay."))
        return money.quantize(min(instalment.amount_due, account.balance), account.currency)
    if purpose == CheckoutPurpose.SETTLEMENT:
        if offer is None or not settlement_offer_valid(offer=offer, account=account):
            raise PortalError(_("This settlement offer has expired. Please look at it again."))
        return money.quantize(offer.amount, account.currency)
    raise PortalError(_("Unknown kind of payment."))


def checkout_start(
    *,
    debtor: Debtor,
    account: Account,
    purpose: str,
    nonce: str,
    card: CardInput,
    amount: str | Decimal | None = None,
    offer: SettlementOffer | None = None,
) -> Checkout:
    """Take a payment from the pay form, once per form nonce.

    A second post of the same form (double click, back and resubmit) returns the first
    attempt's checkout without charging again. The provider's idempotency key is the
    checkout id, and the recorded payment's key is the provider's payment id, so retries at
    every layer collapse onto one `accounts.Payment`.
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", nonce or ""):
        raise PortalError(_("This form has expired. Please try again."))
    existing = Checkout.objects.filter(nonce=nonce).first()
    if existing is not None:
        if existing.debtor_id != debtor.pk or existing.account_id != account.pk:
            raise PortalError(_("This form has expired. Please try again."))
        return existing
    value = checkout_amount(account=account, purpose=purpose, amount=amount, offer=offer)
    gateway = gateway_get()
    try:
        with transaction.atomic():
            checkout = Checkout.objects.create(
                debtor=debtor,
                account=account,
                purpose=purpose,
                amount=value,
                currency=account.currency,
                nonce=nonce,
                gateway=gateway.name,
                settlement_offer=offer if purpose == CheckoutPurpose.SETTLEMENT else None,
            )
    except IntegrityError:
        # The same form posted twice at once: the other request owns the charge.
        return Checkout.objects.get(nonce=nonce)
    try:
        result = gateway.charge(
            amount=value,
            currency=account.currency,
            idempotency_key=f"portal-{checkout.pk}",
            card=card,
            description=f"{account.creditor.display_name} {account.external_ref}",
            metadata={"checkout_id": str(checkout.pk), "account_id": str(account.pk)},
            return_url=settings.SITE_URL + reverse("portal:checkout_return", args=[checkout.pk]),
        )
    except GatewayError:
        logger.exception("gateway charge failed for checkout %s", checkout.pk)
        result = ChargeResult(ChargeStatus.FAILED, "", failure_code="provider_unavailable")
    return checkout_apply(checkout=checkout, result=result)


def checkout_apply(*, checkout: Checkout, result: ChargeResult) -> Checkout:
    """Apply what the provider said (charge, return, authentication or webhook); idempotent."""
    with transaction.atomic():
        locked = Checkout.objects.select_for_update().get(pk=checkout.pk)
        if locked.status == CheckoutStatus.SUCCEEDED:
            return locked
        if result.provider_ref:
            locked.provider_ref = result.provider_ref
        locked.updated_at = timezone.now()
        if result.status is ChargeStatus.SUCCEEDED:
            _checkout_complete(locked)
        elif result.status is ChargeStatus.REQUIRES_ACTION:
            locked.status = CheckoutStatus.REQUIRES_ACTION
            locked.action_url = result.action_url or locked.action_url
        elif locked.status != CheckoutStatus.FAILED:
            locked.status = CheckoutStatus.FAILED
            locked.failure_code = result.failure_code[:60]
            debtor = Debtor.objects.get(pk=locked.debtor_id)
            _portal_event(
                debtor,
                "payment_failed",
                "A card payment in the portal did not go through.",
                account=locked.account,
                checkout_id=str(locked.pk),
                code=locked.failure_code,
            )
        locked.save()
    return locked


def _checkout_complete(checkout: Checkout) -> None:
    """Record the payment (once per provider payment id) and, for a settlement, settle."""
    account = checkout.account
    try:
        payment, created = _payment_record_once(checkout)
    except PaymentRefused as exc:
        # Money was taken but the account cannot take it (paid meanwhile by other means):
        # an operator refunds it; the log names ids only.
        logger.error("checkout %s captured but not recorded: %s", checkout.pk, exc)
        checkout.status = CheckoutStatus.FAILED
        checkout.failure_code = "not_recorded_refund_due"
        return
    checkout.payment = payment
    checkout.status = CheckoutStatus.SUCCEEDED
    checkout.failure_code = ""
    if checkout.purpose == CheckoutPurpose.SETTLEMENT and checkout.settlement_offer_id:
        _settlement_apply(checkout, payment)
    if created:
        _conversion_after_commit(account.pk, "payment", f"payment:{payment.pk}")


def _payment_record_once(checkout: Checkout) -> tuple[Payment, bool]:
    return payment_record(
        account=checkout.account,
        amount=money.quantize(checkout.amount, checkout.currency),
        idempotency_key=f"{checkout.gateway}:{checkout.provider_ref}",
        method=PaymentMethod.CARD,
        actor=ACTOR,
        provider=checkout.gateway,
        provider_reference=checkout.provider_ref,
    )


def checkout_authenticate(*, checkout: Checkout, approved: bool) -> Checkout:
    """The sandbox's simulated bank page answered (approve or cancel)."""
    if checkout.gateway != SandboxGateway.name or checkout.status != CheckoutStatus.REQUIRES_ACTION:
        return checkout
    result = SandboxGateway().authenticate(provider_ref=checkout.provider_ref, approved=approved)
    return checkout_apply(checkout=checkout, result=result)


def checkout_refresh(*, checkout: Checkout) -> Checkout:
    """Ask the provider for the outcome (the debtor is back from Stripe's authentication)."""
    if checkout.status != CheckoutStatus.REQUIRES_ACTION or checkout.gateway == "sandbox":
        return checkout
    try:
        result = gateway_get(checkout.gateway).retrieve(provider_ref=checkout.provider_ref)
    except GatewayError:
        logger.exception("gateway retrieve failed for checkout %s", checkout.pk)
        return checkout
    return checkout_apply(checkout=checkout, result=result)


def webhook_handle(*, gateway_name: str, payload: bytes, signature: str) -> str:
    """Verify and apply a provider webhook; returns what was done (for the response body).

    Raises `GatewayError` for a bad signature. Replays and unknown payments are answered
    without error so the provider stops retrying.
    """
    gateway = gateway_get(gateway_name)
    event = gateway.webhook_parse(payload=payload, signature=signature)
    if event.status is None or not event.provider_ref:
        return "ignored"
    checkout = Checkout.objects.filter(
        gateway=gateway.name, provider_ref=event.provider_ref
    ).first()
    if checkout is None:
        try:
            checkout_id = uuid.UUID(event.metadata.get("checkout_id", ""))
        except ValueError:
            checkout_id = None
        checkout = Checkout.objects.filter(pk=checkout_id, gateway=gateway.name).first()
    if checkout is None:
        logger.warning("webhook %s names no known checkout", event.id)
        return "unknown"
    code = "" if event.status is ChargeStatus.SUCCEEDED else "provider_failed"
    checkout_apply(
        checkout=checkout,
        result=ChargeResult(event.status, event.provider_ref, failure_code=code),
    )
    return "applied"


# --- Settlement -------------------------------------------------------------------------------

SETTLEABLE = (AccountStatus.ACTIVE, AccountStatus.IN_PLAN, AccountStatus.PAUSED)


def settlement_offer_valid(*, offer: SettlementOffer, account: Account) -> bool:
    """Offered, unexpired, and made on the balance the account still has."""
    return (
        offer.account_id == account.pk
        and offer.status == SettlementStatus.OFFERED
        and offer.expires_at > timezone.now()
        and offer.balance == account.balance
        and account.status in SETTLEABLE
    )


def settlement_offer_make(*, account: Account) -> SettlementOffer | None:
    """The current settlement offer for an account, made now if the policy allows one.

    The discount is the creditor's `max_settlement_discount_pct`; the offer lasts
    `PORTAL_SETTLEMENT_OFFER_DAYS` and holds only while the balance is unchanged.
    """
    creditor = account.creditor
    pct = min(Decimal(creditor.max_settlement_discount_pct or 0), Decimal(100))
    if not creditor.settlement_allowed or pct <= 0 or account.status not in SETTLEABLE:
        return None
    now = timezone.now()
    offer = (
        SettlementOffer.objects.filter(
            account=account,
            status=SettlementStatus.OFFERED,
            expires_at__gt=now,
            balance=account.balance,
        )
        .order_by("-created_at")
        .first()
    )
    if offer is not None:
        return offer
    amount = money.quantize(account.balance * (100 - pct) / 100, account.currency)
    if amount <= 0 or amount >= account.balance:
        return None
    with transaction.atomic():
        offer = SettlementOffer.objects.create(
            account=account,
            balance=account.balance,
            discount_pct=pct,
            amount=amount,
            expires_at=now + timedelta(days=settings.PORTAL_SETTLEMENT_OFFER_DAYS),
        )
        _portal_event(
            account.debtor,
            "settlement_offered",
            f"Settlement offered: {amount} {account.currency} "
            f"({pct}% off), valid until {offer.expires_at:%Y-%m-%d}.",
            account=account,
            offer_id=offer.pk,
            discount_pct=str(pct),
        )
    return offer


def _settlement_apply(checkout: Checkout, payment: Payment) -> None:
    """Settle the account after its settlement amount was recorded (same transaction).

    The remainder stays as `current_balance` and is recorded as `written_off`; `settled` is
    final, so it is never collected. If the balance moved since the offer (another payment
    came in), the payment stands as a part payment and the offer is void.
    """
    offer = SettlementOffer.objects.select_for_update().get(pk=checkout.settlement_offer_id)
    if offer.status != SettlementStatus.OFFERED:
        return
    account = (
        Account.objects.select_for_update().select_related("debtor").get(pk=checkout.account_id)
    )
    moved = account.current_balance + payment.amount != offer.balance
    if moved or account.status not in SETTLEABLE:
        offer.status = SettlementStatus.VOID
        offer.save(update_fields=["status"])
        _portal_event(
            account.debtor,
            "settlement_void",
            "Settlement offer void: the balance changed; the payment counts as a part payment.",
            account=account,
            offer_id=offer.pk,
            payment_id=payment.pk,
        )
        return
    old = account.transition(AccountStatus.SETTLED)
    account.save(update_fields=["status", "status_changed_at", "updated_at"])
    PaymentPlan.objects.filter(account=account, status=PlanStatus.ACTIVE).update(
        status=PlanStatus.CANCELLED
    )
    offer.status = SettlementStatus.ACCEPTED
    offer.payment = payment
    offer.written_off = account.current_balance
    offer.save(update_fields=["status", "payment", "written_off"])
    activity_record(
        debtor=account.debtor,
        account=account,
        kind=ActivityKind.STATUS_CHANGED,
        summary=f"Settled: {payment.amount} {account.currency} paid, "
        f"{account.balance} {account.currency} written off.",
        data={
            "from": old,
            "to": AccountStatus.SETTLED,
            "offer_id": offer.pk,
            "payment_id": payment.pk,
            "written_off": str(account.balance),
        },
        actor=ACTOR,
    )


# --- Plans ------------------------------------------------------------------------------------

PLANNABLE = (AccountStatus.ACTIVE, AccountStatus.PAUSED)


def plan_accept(*, account: Account, frequency: str, count: int, first_due: date) -> PaymentPlan:
    """Agree the plan the debtor chose (policy checked by `plan_check` inside `plan_create`)."""
    if account.status not in PLANNABLE:
        raise PortalError(_("A payment plan cannot be set up for this account now."))
    if count < 2:
        raise PortalError(_("Choose at least two instalments."))
    today = timezone.localdate()
    if not today <= first_due <= today + timedelta(days=PLAN_START_DAYS):
        raise PortalError(_("Choose a first payment date within the next 30 days."))
    try:
        with transaction.atomic():
            plan = plan_create(
                account=account, frequency=frequency, count=count, first_due=first_due, actor=ACTOR
            )
            # A plan ends a breathing space the debtor no longer needs.
            Account.objects.filter(pk=account.pk).update(paused_until=None)
            _conversion_after_commit(account.pk, "plan", f"plan:{plan.pk}")
    except DomainError as exc:
        raise PortalError(_("This plan is not possible: %(reason)s") % {"reason": exc}) from exc
    return plan


# --- Pause ------------------------------------------------------------------------------------

PAUSABLE = (AccountStatus.ACTIVE, AccountStatus.IN_PLAN)


def pause_request(*, account: Account, reason: str, days: int) -> PauseRequest:
    """A breathing space: the account is paused until today + `days` (debtor's calendar).

    Contact stops while paused. Resuming is the planner's job: on `paused_until` it moves
    the account back (to `in_plan` when it has an active plan, else `active`) and contacts
    with the `pause_ending` stage (docs/portal.md).
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
        old = locked.transition(AccountStatus.PAUSED)
        locked.paused_until = until
        locked.save(update_fields=["status", "status_changed_at", "updated_at", "paused_until"])
        pause = PauseRequest.objects.create(
            account=locked, reason=reason, days=days, until=until, previous_status=old
        )
        activity_record(
            debtor=locked.debtor,
            account=locked,
            kind=ActivityKind.PAUSE,
            summary=f"Breathing space: collection paused for {days} days, until {until}.",
            data={
                "pause_request_id": pause.pk,
                "days": days,
                "until": until.isoformat(),
                "from": old,
                "stage_after": STAGE_PAUSE_ENDING,
            },
            actor=ACTOR,
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
    resolves it. An active plan is cancelled (a disputed account cannot stay in a plan)."""
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
        old = locked.transition(AccountStatus.DISPUTED)
        locked.save(update_fields=["status", "status_changed_at", "updated_at"])
        plans = list(
            PaymentPlan.objects.filter(account=locked, status=PlanStatus.ACTIVE).values_list(
                "pk", flat=True
            )
        )
        PaymentPlan.objects.filter(pk__in=plans).update(status=PlanStatus.CANCELLED)
        dispute = PortalDispute(account=locked, reason=reason, details=details)
        if document is not None and kind is not None:
            dispute.document.save(f"{uuid.uuid4().hex}.{kind.extension}", document, save=False)
            dispute.document_type = kind.content_type
            dispute.document_size = document.size
        dispute.save()
        activity_record(
            debtor=locked.debtor,
            account=locked,
            kind=ActivityKind.DISPUTE,
            summary="Debt disputed in the portal"
            + (" with a document." if document is not None else "."),
            data={
                "dispute_id": dispute.pk,
                "reason": reason,
                "document": document is not None,
                "from": old,
                "plans_cancelled": plans,
            },
            actor=ACTOR,
        )
    account.status = locked.status
    return dispute


def dispute_resolve(*, dispute: PortalDispute, upheld: bool, actor: str) -> PortalDispute:
    """An operator resolves a dispute: the debt stands (back to active) or is withdrawn
    (closed). Used by the admin actions."""
    if dispute.status != DisputeStatus.OPEN:
        raise DomainError("This dispute is already resolved.")
    with transaction.atomic():
        status = AccountStatus.CLOSED if upheld else AccountStatus.ACTIVE
        account_transition(
            account=dispute.account,
            status=status,
            actor=actor,
            reason="Dispute upheld: debt withdrawn."
            if upheld
            else "Dispute resolved: debt stands.",
            kind=ActivityKind.DISPUTE,
        )
        dispute.status = DisputeStatus.RESOLVED
        dispute.resolved_at = timezone.now()
        dispute.save(update_fields=["status", "resolved_at"])
    return dispute


# --- Contact preferences ----------------------------------------------------------------------

TIME_WINDOWS: dict[str, tuple[time, time] | None] = {
    "any": None,
    "morning": (time(8), time(12)),
    "afternoon": (time(12), time(17)),
    "evening": (time(17), time(21)),
}


def time_window_of(debtor: Debtor) -> str:
    """The name of the debtor's preferred window (`any` when none or a custom one)."""
    current = (debtor.preferred_hours_start, debtor.preferred_hours_end)
    for name, hours in TIME_WINDOWS.items():
        if hours is not None and hours == current:
            return name
    return "any"


def preferences_update(
    *, debtor: Debtor, preferred_channel: str, time_window: str, opted_out: Iterable[str]
) -> Debtor:
    """Save the debtor's channel, time of day and opt-outs (`opted_out_<channel>` flags).

    These are hard constraints: compliance blocks opted-out channels and the planner keeps to
    the preferred hours. Writes one `preference_change` entry, plus one `opted_out` entry
    per channel newly opted out of.
    """
    chosen = set(opted_out)
    if not chosen <= set(CHANNELS):
        raise PortalError(_("Unknown channel."))
    if preferred_channel and preferred_channel not in CHANNELS:
        raise PortalError(_("Unknown channel."))
    if preferred_channel in chosen:
        raise PortalError(_("Your preferred channel cannot be one you opted out of."))
    if time_window not in TIME_WINDOWS:
        raise PortalError(_("Choose a time of day."))
    hours = TIME_WINDOWS[time_window] or (None, None)
    with transaction.atomic():
        locked = Debtor.objects.select_for_update().get(pk=debtor.pk)
        flags = set(locked.flags or [])
        before = {c for c in CHANNELS if f"opted_out_{c}" in flags}
        added, removed = chosen - before, before - chosen
        flags -= {f"opted_out_{c}" for c in removed}
        flags |= {f"opted_out_{c}" for c in added}
        changed = bool(added or removed)
        if (locked.preferred_channel or "") != preferred_channel:
            changed = True
        if (locked.preferred_hours_start, locked.preferred_hours_end) != hours:
            changed = True
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
        activity_record(
            debtor=locked,
            kind=ActivityKind.PREFERENCE_CHANGE,
            summary="Contact preferences changed in the portal.",
            data={
                "opted_out": sorted(added),
                "opted_in": sorted(removed),
                "preferred_channel": preferred_channel,
                "time_window": time_window,
            },
            actor=ACTOR,
        )
        for channel in sorted(added):
            activity_record(
                debtor=locked,
                kind=ActivityKind.OPTED_OUT,
                summary=f"Opted out of {channel} in the portal.",
                data={"channel": channel},
                actor=ACTOR,
            )
    return locked


def language_set(*, debtor: Debtor, language: str) -> None:
    """Remember a verified debtor's language choice on their record (messages use it too)."""
    if language not in dict(settings.LANGUAGES) or debtor.language == language:
        return
    with transaction.atomic():
        old = debtor.language
        Debtor.objects.filter(pk=debtor.pk).update(language=language, updated_at=timezone.now())
        activity_record(
            debtor=debtor,
            kind=ActivityKind.PREFERENCE_CHANGE,
            summary=f"Language changed to {language} in the portal.",
            data={"language": language, "from": old},
            actor=ACTOR,
        )
    debtor.language = language


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


# --- Missed instalments (scheduled) ---------------------------------------------------------


def installments_mark_missed(*, today: date | None = None) -> dict[str, int]:
    """Mark overdue instalments missed and break plans left unpaid too long. Idempotent.

    - An unpaid instalment `PORTAL_MISSED_AFTER_DAYS` (3) past its due date becomes `missed`
      (a pause that ended after the due date counts from its end instead); the account stays
      `in_plan` and the timeline gets a `plan_changed` entry with stage `missed_instalment`.
    - A plan with a missed instalment `PORTAL_PLAN_BREAK_AFTER_DAYS` (14) past due becomes
      `broken`, and the account goes back to `active` (stage `missed_instalment`): it is in
      the contact cycle again.
    Only accounts that are `in_plan` are touched (paused and disputed ones are left alone).
    """
    today = today or timezone.localdate()
    missed_after = timedelta(days=settings.PORTAL_MISSED_AFTER_DAYS)
    break_after = timedelta(days=settings.PORTAL_PLAN_BREAK_AFTER_DAYS)
    counts = {"missed": 0, "broken": 0}
    overdue = Installment.objects.filter(
        plan__status=PlanStatus.ACTIVE,
        plan__account__status=AccountStatus.IN_PLAN,
        status__in=[InstallmentStatus.PENDING, InstallmentStatus.PARTIAL],
        due_date__lt=today - missed_after,
    )
    for plan_id in sorted(set(overdue.values_list("plan_id", flat=True))):
        counts["missed"] += _plan_mark_missed(plan_id, today - missed_after)
    late = Installment.objects.filter(
        plan__status=PlanStatus.ACTIVE,
        plan__account__status=AccountStatus.IN_PLAN,
        status=InstallmentStatus.MISSED,
        due_date__lt=today - break_after,
    )
    for plan_id in sorted(set(late.values_list("plan_id", flat=True))):
        counts["broken"] += _plan_break(plan_id, today - break_after)
    return counts


def _pause_end(account_id: int) -> date | None:
    return (
        PauseRequest.objects.filter(account_id=account_id)
        .order_by("-created_at")
        .values_list("until", flat=True)
        .first()
    )


def _plan_mark_missed(plan_id: int, cutoff: date) -> int:
    with transaction.atomic():
        plan = PaymentPlan.objects.select_related("account").get(pk=plan_id)
        account = (
            Account.objects.select_for_update().select_related("debtor").get(pk=plan.account_id)
        )
        if account.status != AccountStatus.IN_PLAN or plan.status != PlanStatus.ACTIVE:
            return 0
        pause_end = _pause_end(account.pk)
        marked = []
        for inst in plan.installments.filter(
            status__in=[InstallmentStatus.PENDING, InstallmentStatus.PARTIAL],
            due_date__lt=cutoff,
        ):
            if pause_end is not None and pause_end >= cutoff and pause_end >= inst.due_date:
                continue
            inst.status = InstallmentStatus.MISSED
            inst.save(update_fields=["status"])
            marked.append(inst)
        if marked:
            activity_record(
                debtor=account.debtor,
                account=account,
                kind=ActivityKind.PLAN_CHANGED,
                summary=f"{len(marked)} instalment(s) missed.",
                data={
                    "event": "instalment_missed",
                    "plan_id": plan.pk,
                    "installment_ids": [i.pk for i in marked],
                    "stage": STAGE_MISSED_INSTALMENT,
                },
                actor="system",
            )
    return len(marked)


def _plan_break(plan_id: int, cutoff: date) -> int:
    with transaction.atomic():
        plan = PaymentPlan.objects.select_for_update().get(pk=plan_id)
        account = (
            Account.objects.select_for_update().select_related("debtor").get(pk=plan.account_id)
        )
        if account.status != AccountStatus.IN_PLAN or plan.status != PlanStatus.ACTIVE:
            return 0
        if not plan.installments.filter(
            status=InstallmentStatus.MISSED, due_date__lt=cutoff
        ).exists():
            return 0
        plan.status = PlanStatus.BROKEN
        plan.save(update_fields=["status"])
        old = account.transition(AccountStatus.ACTIVE)
        account.save(update_fields=["status", "status_changed_at", "updated_at"])
        activity_record(
            debtor=account.debtor,
            account=account,
            kind=ActivityKind.PLAN_CHANGED,
            summary="Payment plan broken after a missed instalment; back in the contact cycle.",
            data={
                "event": "plan_broken",
                "plan_id": plan.pk,
                "from": old,
                "to": AccountStatus.ACTIVE,
                "stage": STAGE_MISSED_INSTALMENT,
            },
            actor="system",
        )
    return 1
