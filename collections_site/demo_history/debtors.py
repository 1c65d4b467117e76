"""How the demo history's debtors behave: the simulator's world, acting through the services.

The hidden traits and the response funnel are `recommender.simulator.World`'s (docs/simulator.md:
open, click and conversion probabilities by channel, hour, tone and call to action). What a
debtor does is drawn from a generator keyed by the history's seed, what is drawn (`STREAMS`),
the debtor's number in the world and the simulated day (`draws`), never by a database id: a
day run again after an interruption draws the same reactions, and a history built again with
the same seed gives each debtor the same draws whatever else the database holds. Every write
is guarded (idempotency keys, or "already done at this instant" checks), so it records nothing
twice.

Besides paying and agreeing plans, some debtors who clicked use the portal's other doors, through
the portal's services: a dispute (rare), a call-back request (mostly after "contact us"), or a
breathing-space pause (those least able to pay). A few come to the portal every day on their
own, without a message to answer (`visits_make`), so the queues get work to the last day.

The e-mail and SMS providers' receipts are simulated too: most messages are reported
delivered a little after the hand-off, a few bounce (the message fails and waits in the
failed hand-offs queue), the rest are never confirmed (`receipt`). Letters have no receipts.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from accounts import money
from accounts import services as accounts_services
from accounts.models import (
    Account,
    AccountStatus,
    DomainError,
    Installment,
    InstallmentStatus,
    Payment,
    PaymentPlan,
    PlanStatus,
)
from accounts.selectors import instalment_next
from compliance.services import debtor_zone
from messaging import services as messaging
from messaging.models import EventKind, Message
from portal.models import CallbackRequest, PauseRequest, PortalDispute
from portal.services import requests as portal_requests
from recommender import features as F
from recommender.simulator.world import World, bucket_of

log = logging.getLogger(__name__)

ACTOR = "debtor"
REF_PREFIX = "DH-"
DISPUTE_SHARE = 0.03  # of the debtors who click and do not pay
CALLBACK_SHARE_TALK = 0.45  # of those who click "contact us" and do not act on it
CALLBACK_SHARE = 0.04  # of the other clickers who do not pay
PAUSE_ABLE_BELOW = 0.2  # debtors this unable to pay ask for a pause when they do not pay
PAUSE_SHARE = 0.35
# Debtors who come to the portal on their own each day (drawn among all the history's debtors;
# only those with an open account do anything), and which door they take.
VISITS_PER_DAY = 4.0
VISIT_DISPUTE_SHARE, VISIT_CALLBACK_SHARE = 0.15, 0.45
# Per channel: the share the provider reports delivered, the share that bounces, and the mean
# seconds from hand-off to the receipt. The rest are never confirmed.
RECEIPTS = {"email": (0.95, 0.02, 60.0), "sms": (0.96, 0.015, 15.0)}
BOUNCE_REASON = {"email": "mailbox unavailable (demo)", "sms": "number unreachable (demo)"}
# What a generator draws for; with the seed, the debtor and the day, its key (`draws`).
FUNNEL, ACT, INSTALMENT, OPERATOR, RECEIPT, VISIT, VISITORS = 1, 2, 3, 7, 8, 9, 10


def draws(*, seed: int, stream: int, index: int, day: int) -> np.random.Generator:
    """The generator of debtor `index`'s draws of one kind (`stream`) on simulated day `day`.

    Keyed by values a history with the same seed has again (not by message or instalment ids,
    which depend on what else the database holds). A debtor's messages of one day share their
    draws; the planner sends at most one a day."""
    return np.random.default_rng([seed, stream, index, day])


@dataclass(frozen=True, slots=True)
class Reaction:
    """Something a debtor does at `when` in answer to a message: open, click, or act."""

    when: datetime
    kind: str  # "delivered", "bounced", "open", "click", "convert:<cta family>", "request"
    message_id: int
    day: int  # the simulated day the message was sent on: the key of the debtor's draws


def world_index(external_ref: str) -> int | None:
    """The world's debtor number of a demo-history debtor (`DH-00042` -> 42)."""
    if not external_ref.startswith(REF_PREFIX):
        return None
    return int(external_ref[len(REF_PREFIX) :])


def reactions(*, world: World, seed: int, message: Any, index: int, sends_before: int, day: int):
    """What the debtor `index` does with `message` (a row with pk, channel, tone, cta, sent_at,
    timezone), sent on simulated day `day`: the provider's receipt, then (unless it bounced)
    the funnel of docs/simulator.md with the simulator's delays."""
    out = []
    got = receipt(seed=seed, message=message, index=index, day=day)
    if got is not None:
        out.append(got)
        if got.kind == "bounced":
            return out
    r = draws(seed=seed, stream=FUNNEL, index=index, day=day)
    local = message.sent_at.astimezone(F.zone_of(message.timezone))
    if r.random() >= world.p_open(index, message.channel, bucket_of(local.hour), sends_before):
        return out
    opened = message.sent_at + timedelta(minutes=float(r.exponential(90)))
    out.append(Reaction(opened, "open", message.pk, day))
    tone, cta = F.tone_family(message.tone), F.cta_family(message.cta)
    if r.random() >= world.p_click(index, tone, cta):
        return out
    clicked = opened + timedelta(minutes=float(r.exponential(10)) + 1)
    out.append(Reaction(clicked, "click", message.pk, day))
    acted = clicked + timedelta(minutes=float(r.exponential(20)) + 2)
    if r.random() < world.p_convert(index, cta):
        out.append(Reaction(acted, f"convert:{cta}", message.pk, day))
    else:
        out.append(Reaction(acted, "request", message.pk, day))
    return out


def receipt(*, seed: int, message: Any, index: int, day: int) -> Reaction | None:
    """The provider's receipt for `message` (e-mail and SMS only): "delivered", "bounced", or
    None when none comes back (`RECEIPTS`)."""
    shares = RECEIPTS.get(message.channel)
    if shares is None:
        return None
    delivered, bounced, seconds = shares
    r = draws(seed=seed, stream=RECEIPT, index=index, day=day)
    draw = r.random()
    when = message.sent_at + timedelta(seconds=1 + float(r.exponential(seconds)))
    if draw < bounced:
        return Reaction(when, "bounced", message.pk, day)
    if draw < bounced + delivered:
        return Reaction(when, "delivered", message.pk, day)
    return None


def event_apply(*, reaction: Reaction, world: World, seed: int) -> str | None:
    """Record one reaction through the services; returns what it became (for the counts)."""
    message = Message.objects.select_related("account", "debtor").get(pk=reaction.message_id)
    if reaction.kind in ("delivered", "bounced"):
        bounced = reaction.kind == "bounced"
        messaging.event_record(
            message=message, kind=EventKind.BOUNCED if bounced else EventKind.DELIVERED,
            event_key=f"demo-receipt:{message.pk}", source="demo-history",
            occurred_at=reaction.when,
            data={"reason": BOUNCE_REASON.get(message.channel, "bounced")} if bounced else {},
        )  # fmt: skip
        return reaction.kind
    if reaction.kind == "open":
        messaging.event_record(
            message=message, kind=EventKind.OPENED, event_key=f"open:{message.pk}",
            source="tracking", occurred_at=reaction.when,
        )  # fmt: skip
        return "opened"
    if reaction.kind == "click":
        messaging.event_record(
            message=message, kind=EventKind.CLICKED, event_key=f"click:{message.pk}:0",
            source="tracking", occurred_at=reaction.when, data={"link": 0},
        )  # fmt: skip
        return "clicked"
    index = world_index(message.debtor.external_ref)
    if index is None:
        return None
    account = Account.objects.select_related("creditor", "debtor").get(pk=message.account_id)
    rng = draws(seed=seed, stream=ACT, index=index, day=reaction.day)
    if reaction.kind == "request":
        cta = F.cta_family(message.variant.cta) if message.variant_id else ""
        return _request(account=account, world=world, index=index, cta=cta, rng=rng,
                        when=reaction.when)  # fmt: skip
    return _convert(account=account, world=world, index=index, rng=rng, when=reaction.when,
                    cta=reaction.kind.split(":", 1)[1])  # fmt: skip


def _convert(
    *, account: Account, world: World, index: int, rng: np.random.Generator, cta: str,
    when: datetime,
) -> str | None:  # fmt: skip
    """Pay in full, in part, an instalment, or agree a plan (as in the simulator), then credit
    the message as the portal does (`conversion_attribute`)."""
    if account.status not in (AccountStatus.ACTIVE, AccountStatus.IN_PLAN):
        return None
    if (
        Payment.objects.filter(account=account, received_at=when).exists()
        or PaymentPlan.objects.filter(account=account, created_at=when).exists()
    ):
        return None  # done before this day was interrupted
    able = world.able[index]
    try:
        if account.status == AccountStatus.IN_PLAN:
            inst = instalment_next(account_id=account.pk)
            if inst is None:
                return None
            due = money.quantize(inst.amount_due, account.currency)  # stored with 4 places
            payment = _pay(account, due, f"dh-inst-{inst.pk}", when)
            kind, ref, what = "payment", f"pay-{payment.pk}", "instalment paid"
        elif cta == "plan" or able < 0.35:
            plan = accounts_services.plan_create(
                account=account, frequency="fortnightly", count=6 if able < 0.3 else 3,
                first_due=when.date() + timedelta(days=3), actor=ACTOR,
            )  # fmt: skip
            kind, ref, what = "plan", f"plan-{plan.pk}", "plan agreed"
        else:
            share = Decimal(1) if able > 0.5 or rng.random() < 0.5 else Decimal("0.5")
            amount = (account.current_balance * share).quantize(Decimal("0.01"))
            payment = _pay(account, amount, f"dh-{when.timestamp():.0f}-{account.pk}", when)
            kind, ref, what = "payment", f"pay-{payment.pk}", "paid"
    except DomainError as exc:
        log.info("demo history: conversion refused: %s", exc)
        return None
    messaging.conversion_attribute(account=account, at=when, kind=kind, reference=ref)
    return what


def _pay(account: Account, amount: Decimal, key: str, when: datetime) -> Payment:
    payment, _ = accounts_services.payment_record(
        account=account, amount=amount, idempotency_key=key, method="card", actor=ACTOR,
        provider="demo-history", received_at=when,
    )  # fmt: skip
    return payment


def request_pick(
    *, draw: float, pause_draw: float, cta: str, able: float, disputable: bool, has_phone: bool,
    shares: tuple[float, float] | None = None,
) -> str | None:  # fmt: skip
    """Which door a clicker who did not pay takes, from two uniform draws: "dispute" (rare,
    and only while the account may be disputed), "callback" (mostly after "contact us"; needs
    a phone number), "pause" (those least able to pay), or None. `shares` (dispute, call back)
    replaces the clickers' shares (a debtor who came on their own)."""
    dispute_share, share = shares or (
        DISPUTE_SHARE, CALLBACK_SHARE_TALK if cta == "talk" else CALLBACK_SHARE
    )  # fmt: skip
    if draw < dispute_share and disputable:
        return "dispute"
    if draw < dispute_share + share and has_phone:
        return "callback"
    if able < PAUSE_ABLE_BELOW and pause_draw < PAUSE_SHARE:
        return "pause"
    return None


def _request(
    *, account: Account, world: World, index: int, cta: str, rng: np.random.Generator,
    when: datetime,
) -> str | None:  # fmt: skip
    """A clicker who did not pay may dispute, ask for a call back or ask for a pause."""
    door = request_pick(
        draw=rng.random(), pause_draw=rng.random(), cta=cta, able=float(world.able[index]),
        disputable=account.status in portal_requests.DISPUTABLE,
        has_phone=bool(account.debtor.phone),
    )  # fmt: skip
    if door is None:
        return None
    return request_make(door=door, account=account, world=world, index=index, rng=rng,
                        when=when)  # fmt: skip


def request_make(
    *, door: str, account: Account, world: World, index: int, rng: np.random.Generator,
    when: datetime,
) -> str | None:  # fmt: skip
    """Make the request `door` ("dispute", "callback", "pause") at `when` through the portal's
    services, as the debtor would; what it became (for the counts), or None when the portal
    refused it or a request was made at this instant already (a day run again: the account
    may have changed since, e.g. disputed, which would pick another door)."""
    debtor = account.debtor
    if (
        PortalDispute.objects.filter(account=account, created_at=when).exists()
        or CallbackRequest.objects.filter(debtor=debtor, created_at=when).exists()
        or PauseRequest.objects.filter(account=account, created_at=when).exists()
    ):
        return None
    try:
        if door == "dispute":
            reason = str(rng.choice(["not_mine", "paid", "amount", "other"]))
            portal_requests.dispute_raise(account=account, reason=reason)
            return "disputed"
        if door == "callback":
            day = _local_date(debtor, when) + timedelta(days=int(rng.integers(1, 4)))
            window = ("morning", "afternoon", "evening")[int(world.peak_bucket[index]) % 3]
            portal_requests.callback_request(debtor=debtor, account=account, day=day,
                                             window=window)  # fmt: skip
            return "call-back requested"
        if door == "pause":
            days = min(30, account.creditor.max_pause_days)
            portal_requests.pause_request(account=account, reason="job_loss", days=days)
            return "paused"
    except (DomainError, portal_requests.PortalError) as exc:
        log.info("demo history: request refused: %s", exc)
    return None


def visits_make(*, world: World, seed: int, creditor_id: int, hour_start: datetime, day: int,
                clock: Any) -> Counter:  # fmt: skip
    """Debtors who come to the portal on their own in the hour from `hour_start` (simulated day
    `day`), without a message to answer: how many and who drawn from the seed and the day
    among all the history's debtors (`VISITS_PER_DAY`), each at a minute of the hour drawn
    from their own generator; those with an open account take a door (`request_pick` with the
    visitors' shares) through `request_make`. The clock is moved to each visit."""
    counts: Counter = Counter()
    r = draws(seed=seed, stream=VISITORS, index=0, day=day)  # who comes, for the whole day
    n = min(world.n, int(r.poisson(VISITS_PER_DAY)))
    visitors = []
    for index in sorted(int(i) for i in r.choice(world.n, n, replace=False)):
        rng = draws(seed=seed, stream=VISIT, index=index, day=day)
        visitors.append((hour_start + timedelta(minutes=int(rng.integers(0, 60))), index, rng))
    for when, index, rng in sorted(visitors, key=lambda v: (v[0], v[1])):
        account = (
            Account.objects.filter(
                creditor_id=creditor_id,
                debtor__external_ref=f"{REF_PREFIX}{index:05d}",
                status__in=[AccountStatus.ACTIVE, AccountStatus.IN_PLAN],
            )
            .select_related("creditor", "debtor")
            .first()
        )
        if account is None:
            continue  # not placed yet, or nothing left to ask about
        clock.move_to(when)
        door = request_pick(
            draw=rng.random(), pause_draw=rng.random(), cta="", able=float(world.able[index]),
            disputable=account.status in portal_requests.DISPUTABLE,
            has_phone=bool(account.debtor.phone),
            shares=(VISIT_DISPUTE_SHARE, VISIT_CALLBACK_SHARE),
        )  # fmt: skip
        what = door and request_make(door=door, account=account, world=world, index=index,
                                     rng=rng, when=when)  # fmt: skip
        if what:
            counts[what] += 1
    return counts


def _local_date(debtor: Any, when: datetime) -> date:
    return when.astimezone(debtor_zone(debtor)[1]).date()


def instalments_pay(*, world: World, seed: int, creditor_id: int, today: date, day: int) -> int:
    """Debtors with an instalment due today (simulated day `day`) pay it or not, by how
    organised and able they are (the simulator's rule; 18:00 UTC). Returns how many paid."""
    due = Installment.objects.filter(
        plan__account__creditor_id=creditor_id,
        plan__status=PlanStatus.ACTIVE,
        due_date=today,
        status__in=[InstallmentStatus.PENDING, InstallmentStatus.PARTIAL],
    ).select_related("plan__account", "plan__account__debtor", "plan__account__creditor")
    paid = 0
    for inst in due:
        account = inst.plan.account
        i = world_index(account.debtor.external_ref)
        if i is None:
            continue
        p = 0.35 + 0.55 * world.organised[i] * (0.5 + 0.5 * world.able[i])
        if draws(seed=seed, stream=INSTALMENT, index=i, day=day).random() >= p:
            continue
        try:
            accounts_services.payment_record(
                account=account, amount=money.quantize(inst.amount_due, account.currency),
                idempotency_key=f"dh-inst-{inst.pk}",
                method="direct_debit", actor=ACTOR, provider="demo-history",
            )  # fmt: skip
        except DomainError:
            continue
        paid += 1
    return paid
