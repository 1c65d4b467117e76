"""One simulated day of the demo history, through the real services, with the clock moved.

The day's clock is moved with time-machine as in the simulator (`recommender.simulator.run`):
placements at midnight UTC; at 01:00 the nightly jobs (missed instalments, typologies,
retraining with promotion); at 04:00 `plan_contacts` for the history's creditor; every hour
`dispatch_due` (compliance checks every message again at delivery) through the configured
channel backends, then the providers' receipts and the debtors' reactions (`debtors.py`); at
13:00 the debtors who come to the portal on their own; at 18:00, instalments; at 10:00 the
operators' part (old disputes resolved, past call-backs made, old bounces closed).

Running a day twice (after an interruption) writes nothing twice: placements are upserts,
planning slots are unique, sent messages are not sent again, reactions are drawn from the
seed, the debtor and the day (`debtors.draws`) and guarded, a night with a model already
trained at that instant is skipped.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import time_machine
from django.db.models import Count
from django.db.models import F as DbF
from faker import Faker

from accounts import services as accounts_services
from accounts.models import Creditor
from collections_site.demo_history import debtors
from messaging import services as messaging
from messaging.models import Message, MessageStatus
from portal import tasks as portal_tasks
from portal.models import CallbackRequest, CallbackStatus, DisputeStatus, PortalDispute
from portal.services import disputes as portal_disputes
from portal.services import requests as portal_requests
from recommender import services as recommender
from recommender.models import ModelVersion
from recommender.simulator import SIMULATOR_RETRAIN, World
from recommender.simulator.run import _phone
from recommender.simulator.world import REGIONS

log = logging.getLogger(__name__)

ACTOR = "demo:history"
OPERATOR = "demo:operator"
PLAN_HOUR, NIGHTLY_HOUR, OPERATOR_HOUR, VISIT_HOUR, INSTALMENT_HOUR = 4, 1, 10, 13, 18
HANDOFF_DAYS = 2  # operators close failed hand-offs (bounces) after two days
INITIAL_SHARE, PLACEMENT_DAYS = 0.5, 21  # half on day 0, the rest over three weeks
DISPUTE_DAYS, UPHELD_SHARE = 10, 0.3  # operators resolve disputes after ten days
BOUNCE_CLOSED = "The address bounced; the creditor was asked for a new one."
# The simulator's nightly retraining options (a 2-day reward delay), with a lighter fit (no
# k-fold prior search, 80 L-BFGS iterations): the demo fills the cockpit on a laptop's
# worker; it does not measure the learner.
RETRAIN = {**SIMULATOR_RETRAIN, "learner": {"small_log_rows": 0, "max_iter": 80}}
CURRENCY = {"US": "USD", "GB": "GBP", "CA": "CAD"}
LOCALE = {"US": "en_US", "GB": "en_GB", "CA": "en_CA", "FR": "fr_FR", "DE": "de_DE"}


def placement_days(debtors_n: int, seed: int) -> np.ndarray:
    """The simulated day each debtor is placed on (deterministic)."""
    r = np.random.default_rng([seed, 4])
    days = np.zeros(debtors_n, dtype=int)
    initial = int(debtors_n * INITIAL_SHARE)
    days[initial:] = r.integers(1, PLACEMENT_DAYS, debtors_n - initial)
    return days


def placement_row(i: int, *, seed: int, day_start: datetime) -> dict:
    """Debtor `i`'s placement row: region by the simulator's shares, a local name."""
    r = np.random.default_rng([seed, 5, i])
    shares = np.array([reg[3] for reg in REGIONS])
    region, lang, tz, _ = REGIONS[int(r.choice(len(REGIONS), p=shares / shares.sum()))]
    country = region.split("-")[0]
    fake = Faker(LOCALE.get(country, "en_US"))
    fake.seed_instance(seed * 100_003 + i)
    first, last = fake.first_name(), fake.last_name()
    amount = Decimal(f"{np.exp(r.normal(5.5, 0.9)) + 20:.2f}")
    due = day_start.date() - timedelta(days=int(r.integers(10, 90)))
    return {
        "external_ref": f"DHA-{i:05d}",
        "currency": CURRENCY.get(country, "EUR"),
        "original_amount": str(amount),
        "due_date": due.isoformat(),
        "description": str(r.choice(["Energy bill", "Broadband contract", "Water bill"])),
        "debtor": {
            "external_ref": f"{debtors.REF_PREFIX}{i:05d}",
            "first_name": first,
            "last_name": last,
            "email": f"history.{i}@example.com",
            "phone": _phone(region, i),
            "address_line1": f"{i} {fake.street_name()}"[:200],
            "city": fake.city()[:100],
            "postal_code": fake.postcode()[:20],
            "region": region,
            "timezone": tz,
            "language": lang,
        },
    }


def place(*, creditor: Creditor, indices: list[int], seed: int, day_start: datetime) -> int:
    rows = [placement_row(i, seed=seed, day_start=day_start) for i in indices]
    created = 0
    for start in range(0, len(rows), 1000):
        result = accounts_services.placement_upsert(
            creditor=creditor, rows=rows[start : start + 1000], actor=ACTOR
        )
        created += len(result.created)
        if result.rejected:
            log.warning("demo history: %d placement rows rejected", len(result.rejected))
    return created


def day_run(*, creditor: Creditor, world: World, seed: int, start: datetime, day: int) -> Counter:
    """Run simulated day `day` (0-based) of the history; returns what happened, counted.

    Stays whole: the day's hour loop reads as the timetable the module docstring gives."""
    counts: Counter = Counter()
    day_start = start + timedelta(days=day)
    todays = np.flatnonzero(placement_days(world.n, seed) == day).tolist()
    sends = _sends_before(creditor.pk, day_start)
    pending: list[tuple[datetime, int, debtors.Reaction]] = []
    with time_machine.travel(day_start, tick=False) as clock:
        if todays:
            counts["placed"] += place(creditor=creditor, indices=todays, seed=seed,
                                      day_start=day_start)  # fmt: skip
        for hour in range(24):
            now = day_start + timedelta(hours=hour)
            clock.move_to(now)
            if hour == NIGHTLY_HOUR and day > 0:
                counts.update(_nightly(now))
            if hour == PLAN_HOUR:
                result = recommender.plan_contacts(now=now, actor=ACTOR, creditor_ids=[creditor.pk])
                counts["planned"] += result.planned
            if hour == OPERATOR_HOUR:
                counts.update(operators_work(creditor.pk, now, seed=seed, day=day))
            messaging.dispatch_due(now=now)
            for row in _sent_between(creditor.pk, now, now + timedelta(hours=1)):
                counts["sent"] += 1
                index = debtors.world_index(row.external_ref)
                if index is None:
                    continue
                before = sends.get(row.debtor_id, 0)
                sends[row.debtor_id] = before + 1
                for reaction in debtors.reactions(world=world, seed=seed, message=row,
                                                  index=index, sends_before=before,
                                                  day=day):  # fmt: skip
                    heapq.heappush(pending, (reaction.when, reaction.message_id, reaction))
            _react_until(pending, now + timedelta(hours=1), clock, world, seed, counts)
            if hour == VISIT_HOUR and day > 0:
                counts.update(debtors.visits_make(
                    world=world, seed=seed, creditor_id=creditor.pk, hour_start=now, day=day,
                    clock=clock,
                ))  # fmt: skip
            if hour == INSTALMENT_HOUR:
                clock.move_to(now)
                counts["instalments paid"] += debtors.instalments_pay(
                    world=world, seed=seed, creditor_id=creditor.pk, today=now.date(), day=day
                )
        # Reactions to the evening's messages that fall after midnight: recorded now, at their
        # own times (the next day starts at its midnight again).
        _react_until(pending, None, clock, world, seed, counts)
    return counts


def _react_until(pending, until, clock, world, seed, counts: Counter) -> None:
    while pending and (until is None or pending[0][0] < until):
        when, _, reaction = heapq.heappop(pending)
        clock.move_to(when)
        what = debtors.event_apply(reaction=reaction, world=world, seed=seed)
        if what:
            counts[what] += 1


class _Sent:
    __slots__ = ("channel", "cta", "debtor_id", "external_ref", "pk", "sent_at", "timezone",
                 "tone")  # fmt: skip

    def __init__(self, row: dict) -> None:
        for name in self.__slots__:
            setattr(self, name, row[name])


def _sent_between(creditor_id: int, since: datetime, until: datetime) -> list[_Sent]:
    rows = (
        Message.objects.filter(
            account__creditor_id=creditor_id, sent_at__gte=since, sent_at__lt=until
        )
        .order_by("pk")
        .values("pk", "debtor_id", "channel", "sent_at")
        .annotate(
            external_ref=DbF("debtor__external_ref"),
            timezone=DbF("debtor__timezone"),
            tone=DbF("variant__tone__slug"),
            cta=DbF("variant__cta"),
        )
    )
    return [_Sent(row) for row in rows]


def _sends_before(creditor_id: int, day_start: datetime) -> dict[int, int]:
    """Messages each debtor received before the day (the world's fatigue counts them)."""
    return dict(
        Message.objects.filter(account__creditor_id=creditor_id, sent_at__lt=day_start)
        .values("debtor_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("debtor_id", "n")
    )


def _nightly(now: datetime) -> Counter:
    """Missed instalments, typologies and retraining (with promotion), as the nightly jobs do;
    the retraining with the simulator's options (2-day reward delay, a lighter fit)."""
    counts: Counter = Counter()
    marked = portal_tasks.installments_mark_missed()
    counts["instalments missed"] += marked.get("missed", 0)
    counts["typologies"] += recommender.typology_refresh() or 0
    at = now + timedelta(hours=1)
    if ModelVersion.objects.filter(trained_at=at).exists():
        return counts  # this night's model was trained before an interruption
    with time_machine.travel(at, tick=False):
        options = recommender.RetrainOptions.from_settings(**RETRAIN)
        try:
            model = recommender.model_retrain(actor=ACTOR, options=options, now=at)
        except recommender.RetrainSkipped as exc:
            log.info("demo history: retraining skipped: %s", exc)
            return counts
        finally:
            recommender.policy_forget()  # the next plan uses the model live now
    counts["models trained"] += 1
    counts["models promoted"] += int(model.status == "live")
    return counts


def operators_work(creditor_id: int, now: datetime, *, seed: int, day: int) -> Counter:
    """Operators work the queues, a little late (simulated day `day`): disputes older than ten
    days are resolved (some upheld: a draw keyed like the debtors', `debtors.draws`),
    call-backs whose window ended yesterday or before are made, messages that bounced two days
    ago or before are closed (the address is the creditor's to correct)."""
    counts: Counter = Counter()
    old = PortalDispute.objects.filter(
        account__creditor_id=creditor_id,
        status=DisputeStatus.OPEN,
        created_at__lt=now - timedelta(days=DISPUTE_DAYS),
    ).select_related("account__creditor", "account__debtor")
    for dispute in old:
        index = debtors.world_index(dispute.account.debtor.external_ref) or 0
        draw = debtors.draws(seed=seed, stream=debtors.OPERATOR, index=index, day=day).random()
        upheld = draw < UPHELD_SHARE
        portal_disputes.dispute_resolve(dispute=dispute, upheld=upheld, actor=OPERATOR)
        counts["disputes resolved"] += 1
    for callback in CallbackRequest.objects.filter(
        debtor__creditor_id=creditor_id,
        status=CallbackStatus.OPEN,
        window_end__lt=now - timedelta(days=1),
    ):
        portal_requests.callback_mark_done(callback=callback, actor=OPERATOR)
        counts["call-backs made"] += 1
    for message in Message.objects.filter(
        account__creditor_id=creditor_id,
        status=MessageStatus.FAILED,
        status_reason__in=debtors.BOUNCE_REASON.values(),
        review__isnull=True,
        status_changed_at__lt=now - timedelta(days=HANDOFF_DAYS),
    ).order_by("pk"):
        messaging.handoff_close(message=message, reason=BOUNCE_CLOSED, actor=OPERATOR)
        counts["bounces closed"] += 1
    return counts


def history_start(days: int, *, today: datetime | None = None) -> datetime:
    """Midnight UTC `days` days before today: the history ends where the live demo begins."""
    now = today or datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)
