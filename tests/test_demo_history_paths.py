"""Each path the demo history's debtors and operators take (docs/demo.md), forced rather than
left to the draws: a provider's receipt (delivered, bounced), a drawn request (a dispute, a
call back, a pause), a visit to the portal without a message, a conversion (a plan, a payment
in full, an instalment), an instalment paid at 18:00, and the operators' part (a dispute
resolved either way, a call back made, a bounce closed). Each runs the function the history runs,
through the real services, and checks the queue rows, timeline entries and statuses it leaves;
and the draws are the same for the same seed, debtor and day whatever the database's ids."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
import time_machine
from django.utils import timezone

from accounts import services as accounts_services
from accounts.models import (
    Account,
    AccountStatus,
    Activity,
    ActivityKind,
    Installment,
    InstallmentStatus,
    Payment,
    PaymentPlan,
)
from accounts.tests.factories import UserFactory, place, row
from accounts.webhooks.models import WebhookEvent
from collections_site.demo_history import day as day_module
from collections_site.demo_history import debtors
from collections_site.queues.callbacks import callbacks_for
from collections_site.queues.disputes import UNRESOLVED, disputes_for
from collections_site.queues.handoffs import handoffs_for
from messaging import services as messaging
from messaging.models import EventKind, HandoffReview, MessageEvent, MessageStatus
from portal.models import (
    CALLBACK_HOURS,
    CallbackRequest,
    CallbackStatus,
    DisputeStatus,
    PauseRequest,
    PortalDispute,
)
from portal.selectors import debtor_today, debtor_zone
from portal.services import requests as portal_requests
from recommender.simulator import World
from tests import queues_setup

_compliance_rules_fresh = queues_setup._compliance_rules_fresh
make_variant = queues_setup.make_variant
reviewer = queues_setup.reviewer

pytestmark = pytest.mark.django_db

SEED, INDEX, DAY = 1, 3, 5


class Clock:
    """The clock moved as the history moves it: time-machine, so model defaults
    (`created_at`) follow it too, and the history's "already done at this instant" guards
    can be checked."""

    def __init__(self, traveller) -> None:
        self.traveller = traveller

    @property
    def now(self) -> datetime:
        return timezone.now()

    def set(self, now: datetime) -> None:
        self.traveller.move_to(now)


@pytest.fixture
def clock():
    with time_machine.travel(queues_setup.messaging_fixtures.T0, tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture
def world() -> World:
    return World(10, SEED)


@pytest.fixture
def agency():
    """An agency operator: what the queues show everyone."""
    return UserFactory(is_staff=True, is_superuser=True)


def _history_account(creditor, index: int = INDEX, **debtor) -> Account:
    """An account of demo-history debtor `index` (reference `DH-<index>`), placed for real."""
    ref = f"{debtors.REF_PREFIX}{index:05d}"
    return place(creditor, row(f"H{index}", debtor={"external_ref": ref, **debtor}))[0]


def _sent(clock, account, variant):
    """A message to `account`, sent through the outbox, then opened and clicked."""
    message = messaging.message_send(account=account, variant=variant, slot="day-5")
    messaging.dispatch_due()
    message.refresh_from_db()
    assert message.sent_at is not None
    for kind in ("open", "click"):
        when = clock.now + timedelta(minutes=5)
        clock.set(when)
        debtors.event_apply(
            reaction=debtors.Reaction(when, kind, message.pk, DAY), world=None, seed=SEED
        )
    return message


def _react(clock, message, kind: str, world: World) -> str | None:
    when = clock.now + timedelta(minutes=10)
    clock.set(when)
    reaction = debtors.Reaction(when, kind, message.pk, DAY)
    return debtors.event_apply(reaction=reaction, world=world, seed=SEED)


# --- The providers' receipts ---------------------------------------------------------------------


def _handed_off(account, variant):
    message = messaging.message_send(account=account, variant=variant, slot="day-5")
    messaging.dispatch_due()
    message.refresh_from_db()
    assert message.sent_at is not None and message.status == MessageStatus.SENT
    return message


def _as_row(message):
    return SimpleNamespace(pk=message.pk, channel=message.channel, tone="friendly",
                           cta="pay_in_full", sent_at=message.sent_at,
                           timezone="America/New_York")  # fmt: skip


def test_a_delivery_receipt_marks_the_message_delivered_once(
    clock, creditor, make_variant, world, monkeypatch
):
    monkeypatch.setitem(debtors.RECEIPTS, "email", (1.0, 0.0, 60.0))
    message = _handed_off(_history_account(creditor), make_variant("email"))
    got = debtors.receipt(seed=SEED, message=_as_row(message), index=INDEX, day=DAY)
    assert got.kind == "delivered" and message.sent_at < got.when
    clock.set(got.when)
    assert debtors.event_apply(reaction=got, world=world, seed=SEED) == "delivered"
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED and message.delivered_at == got.when
    debtors.event_apply(reaction=got, world=world, seed=SEED)  # a day run twice
    assert MessageEvent.objects.filter(message=message, kind=EventKind.DELIVERED).count() == 1
    letter = SimpleNamespace(**{**vars(_as_row(message)), "channel": "letter"})
    assert debtors.receipt(seed=SEED, message=letter, index=INDEX, day=DAY) is None


def test_a_bounce_fails_the_message_into_the_hand_offs_queue_and_nothing_follows_it(
    clock, creditor, make_variant, world, agency, monkeypatch
):
    monkeypatch.setitem(debtors.RECEIPTS, "email", (0.0, 1.0, 60.0))
    message = _handed_off(_history_account(creditor), make_variant("email"))
    drawn = debtors.reactions(world=world, seed=SEED, message=_as_row(message), index=INDEX,
                              sends_before=0, day=DAY)  # fmt: skip
    assert [r.kind for r in drawn] == ["bounced"]  # no open, no click after a bounce
    clock.set(drawn[0].when)
    assert debtors.event_apply(reaction=drawn[0], world=world, seed=SEED) == "bounced"
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert message.status_reason == debtors.BOUNCE_REASON["email"]
    assert list(handoffs_for(agency)) == [message]


# --- Which door a clicker who did not pay takes -------------------------------------------------


@pytest.mark.parametrize(
    ("draws", "who", "door"),
    [
        ((0.01, 0.9), {}, "dispute"),
        ((0.01, 0.9), {"disputable": False}, "callback"),  # a disputed account asks for a call
        ((0.05, 0.9), {}, "callback"),
        ((0.05, 0.9), {"has_phone": False}, None),
        ((0.4, 0.9), {"cta": "talk"}, "callback"),  # "contact us" leads to calls far more
        ((0.4, 0.9), {}, None),
        ((0.4, 0.1), {"able": 0.1}, "pause"),  # the least able ask for a breathing space
        ((0.4, 0.5), {"able": 0.1}, None),
        ((0.4, 0.1), {"able": 0.5}, None),
    ],
)
def test_request_pick_takes_the_door_the_draws_and_the_debtor_lead_to(draws, who, door):
    debtor = {"cta": "pay", "able": 0.6, "disputable": True, "has_phone": True, **who}
    assert debtors.request_pick(draw=draws[0], pause_draw=draws[1], **debtor) == door


# --- The requests, through event_apply with the draw forced -------------------------------------


def test_a_drawn_dispute_opens_one_in_the_disputes_queue(
    clock, creditor, make_variant, world, agency, monkeypatch
):
    monkeypatch.setattr(debtors, "DISPUTE_SHARE", 1.0)  # every draw below it
    account = _history_account(creditor)
    message = _sent(clock, account, make_variant("email"))
    assert _react(clock, message, "request", world) == "disputed"
    dispute = PortalDispute.objects.get(account=account)
    assert dispute.status == DisputeStatus.OPEN and dispute.created_at == clock.now
    assert dispute.due_at == clock.now + timedelta(days=30)  # US: the platform's 30 days
    assert dispute.reason in {"not_mine", "paid", "amount", "other"}
    account.refresh_from_db()
    assert account.status == AccountStatus.DISPUTED
    entry = Activity.objects.get(account=account, kind=ActivityKind.DISPUTE)
    assert entry.data["dispute_id"] == dispute.pk and entry.actor == "debtor"
    assert list(disputes_for(agency).filter(status__in=UNRESOLVED)) == [dispute]
    # The same reaction again (a day run twice) records nothing more.
    reaction = debtors.Reaction(clock.now, "request", message.pk, DAY)
    assert debtors.event_apply(reaction=reaction, world=world, seed=SEED) is None
    assert PortalDispute.objects.filter(account=account).count() == 1


def test_a_drawn_call_back_is_booked_in_the_call_backs_queue(
    clock, creditor, make_variant, world, agency, monkeypatch
):
    monkeypatch.setattr(debtors, "DISPUTE_SHARE", 0.0)
    monkeypatch.setattr(debtors, "CALLBACK_SHARE", 1.0)
    account = _history_account(creditor)
    message = _sent(clock, account, make_variant("email"))
    assert _react(clock, message, "request", world) == "call-back requested"
    callback = CallbackRequest.objects.get(debtor=account.debtor)
    assert callback.status == CallbackStatus.OPEN and callback.account_id == account.pk
    # A window of the debtor's peak hours, one to three days ahead on their calendar.
    window = ("morning", "afternoon", "evening")[int(world.peak_bucket[INDEX]) % 3]
    assert callback.window == window
    local = callback.window_start.astimezone(debtor_zone(account.debtor))
    assert 1 <= (local.date() - debtor_today(account.debtor)).days <= 3
    assert local.hour == CALLBACK_HOURS[window][0]
    entry = Activity.objects.get(account=account, kind=ActivityKind.CALLBACK_REQUESTED)
    assert entry.data["callback_id"] == callback.pk
    assert list(callbacks_for(agency).filter(status=CallbackStatus.OPEN)) == [callback]
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE  # a call back leaves the account as it is


def test_a_drawn_pause_gives_the_account_a_breathing_space(
    clock, creditor, make_variant, world, monkeypatch
):
    monkeypatch.setattr(debtors, "DISPUTE_SHARE", 0.0)
    monkeypatch.setattr(debtors, "CALLBACK_SHARE", 0.0)
    monkeypatch.setattr(debtors, "PAUSE_SHARE", 1.0)
    world.able[INDEX] = 0.1  # below PAUSE_ABLE_BELOW: among the least able to pay
    account = _history_account(creditor)
    message = _sent(clock, account, make_variant("email"))
    assert _react(clock, message, "request", world) == "paused"
    account.refresh_from_db()
    assert account.status == AccountStatus.PAUSED
    assert account.paused_until == debtor_today(account.debtor) + timedelta(days=30)
    pause = PauseRequest.objects.get(account=account)
    assert (pause.reason, pause.days, pause.previous_status) == ("job_loss", 30, "active")
    entry = Activity.objects.get(account=account, kind=ActivityKind.PAUSE)
    assert entry.data["pause_request_id"] == pause.pk
    assert WebhookEvent.objects.filter(type="pause.started", creditor=creditor).count() == 1


def test_a_request_without_a_door_records_nothing(
    clock, creditor, make_variant, world, monkeypatch
):
    for name in ("DISPUTE_SHARE", "CALLBACK_SHARE", "PAUSE_SHARE"):
        monkeypatch.setattr(debtors, name, 0.0)
    account = _history_account(creditor)
    message = _sent(clock, account, make_variant("email"))
    assert _react(clock, message, "request", world) is None
    assert not PortalDispute.objects.exists() and not CallbackRequest.objects.exists()
    assert not PauseRequest.objects.exists()


# --- Debtors who come on their own --------------------------------------------------------------


def test_debtors_who_come_on_their_own_take_a_door_once(clock, creditor, world, monkeypatch):
    monkeypatch.setattr(debtors, "VISITS_PER_DAY", 1_000.0)  # every debtor of the world comes
    monkeypatch.setattr(debtors, "VISIT_DISPUTE_SHARE", 1.0)
    account = _history_account(creditor)  # the only one placed: the others do nothing
    settled = _history_account(creditor, index=4)
    Account.objects.filter(pk=settled.pk).update(status=AccountStatus.SETTLED)
    start = clock.now.replace(minute=0, second=0, microsecond=0)
    visit = {"world": world, "seed": SEED, "creditor_id": creditor.pk, "hour_start": start,
             "day": DAY}  # fmt: skip
    counts = debtors.visits_make(**visit, clock=clock.traveller)
    assert counts == {"disputed": 1}
    dispute = PortalDispute.objects.get()
    assert dispute.account_id == account.pk
    assert start <= dispute.created_at < start + timedelta(hours=1)
    assert debtors.visits_make(**visit, clock=clock.traveller) == {}  # the day run again
    assert PortalDispute.objects.count() == 1 and not CallbackRequest.objects.exists()


# --- Conversions ------------------------------------------------------------------------------


def _converted(message) -> bool:
    return MessageEvent.objects.filter(message=message, kind=EventKind.CONVERTED).exists()


def test_a_plan_conversion_agrees_a_plan_credited_to_the_message(
    clock, creditor, make_variant, world
):
    world.able[INDEX] = 0.3  # below 0.35: a plan whatever the call to action; three instalments
    account = _history_account(creditor)
    message = _sent(clock, account, make_variant("email"))
    assert _react(clock, message, "convert:plan", world) == "plan agreed"
    account.refresh_from_db()
    assert account.status == AccountStatus.IN_PLAN
    plan = PaymentPlan.objects.get(account=account)
    assert (plan.status, plan.frequency, plan.instalment_count) == ("active", "fortnightly", 3)
    assert Activity.objects.filter(account=account, kind=ActivityKind.PLAN_CREATED).exists()
    assert _converted(message)


def test_a_payment_conversion_pays_in_full_and_an_in_plan_one_pays_the_instalment(
    clock, creditor, make_variant, world
):
    world.able[INDEX] = 0.9  # able: pays the whole balance
    variant = make_variant("email")
    account = _history_account(creditor)
    message = _sent(clock, account, variant)
    assert _react(clock, message, "convert:pay", world) == "paid"
    account.refresh_from_db()
    assert account.status == AccountStatus.PAID and account.current_balance == 0
    assert Payment.objects.get(account=account).amount == Decimal("120.50")
    assert Activity.objects.filter(account=account, kind=ActivityKind.PAYMENT).count() == 1
    assert _converted(message)

    other = _history_account(creditor, index=4)
    accounts_services.plan_create(
        account=other, frequency="fortnightly", count=3,
        first_due=debtor_today(other.debtor) + timedelta(days=3), actor="debtor",
    )  # fmt: skip
    message = _sent(clock, other, variant)
    assert _react(clock, message, "convert:pay", world) == "instalment paid"
    first = Installment.objects.get(plan__account=other, sequence=1)
    assert first.status == InstallmentStatus.PAID
    other.refresh_from_db()
    assert other.status == AccountStatus.IN_PLAN


def test_an_instalment_due_today_is_paid_by_an_organised_debtor(clock, creditor, world):
    world.organised[INDEX], world.able[INDEX] = 1.0, 1.0  # pays with probability 0.9
    account = _history_account(creditor)
    today = debtor_today(account.debtor)
    accounts_services.plan_create(
        account=account, frequency="weekly", count=2, first_due=today, actor="debtor"
    )
    # The draw is keyed by the seed, the debtor and the day: this one is below 0.9.
    draw = debtors.draws(seed=SEED, stream=debtors.INSTALMENT, index=INDEX, day=DAY).random()
    assert draw < 0.9
    paid = debtors.instalments_pay(
        world=world, seed=SEED, creditor_id=creditor.pk, today=today, day=DAY
    )
    assert paid == 1
    assert Installment.objects.get(plan__account=account, sequence=1).status == "paid"
    assert Payment.objects.get(account=account).method == "direct_debit"


# --- The operators' part -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("upheld_share", "dispute_status", "account_status"),
    [
        (1.0, DisputeStatus.UPHELD, AccountStatus.CLOSED),
        (0.0, DisputeStatus.DEBT_STANDS, AccountStatus.ACTIVE),
    ],
)
def test_operators_resolve_disputes_older_than_ten_days(
    clock, creditor, agency, monkeypatch, upheld_share, dispute_status, account_status
):
    monkeypatch.setattr(day_module, "UPHELD_SHARE", upheld_share)
    account = _history_account(creditor)
    dispute = portal_requests.dispute_raise(account=account, reason="paid")
    clock.set(clock.now + timedelta(days=10, hours=1))
    young = portal_requests.dispute_raise(account=_history_account(creditor, 4), reason="paid")
    counts = day_module.operators_work(creditor.pk, clock.now, seed=SEED, day=DAY)
    assert counts["disputes resolved"] == 1
    dispute.refresh_from_db()
    account.refresh_from_db()
    assert (dispute.status, account.status) == (dispute_status, account_status)
    moves = Activity.objects.filter(account=account, data__dispute_id=dispute.pk)
    assert moves.filter(actor=day_module.OPERATOR).exists()
    assert list(disputes_for(agency).filter(status__in=UNRESOLVED)) == [young]


def test_operators_make_the_call_backs_whose_window_ended_before_yesterday(clock, creditor, agency):
    account = _history_account(creditor)
    day = debtor_today(account.debtor) + timedelta(days=1)
    callback = portal_requests.callback_request(
        debtor=account.debtor, account=account, day=day, window="morning"
    )
    clock.set(callback.window_end + timedelta(hours=23))  # not yet a day after its window
    assert day_module.operators_work(creditor.pk, clock.now, seed=SEED, day=DAY) == {}
    clock.set(callback.window_end + timedelta(days=1, minutes=1))
    counts = day_module.operators_work(creditor.pk, clock.now, seed=SEED, day=DAY)
    assert counts["call-backs made"] == 1
    callback.refresh_from_db()
    assert callback.status == CallbackStatus.DONE and callback.done_by == day_module.OPERATOR
    assert Activity.objects.filter(
        kind=ActivityKind.ADMIN_CHANGE, data__callback_id=callback.pk
    ).exists()
    assert not callbacks_for(agency).filter(status=CallbackStatus.OPEN).exists()


def test_operators_close_bounces_two_days_old(
    clock, creditor, make_variant, world, agency, monkeypatch
):
    monkeypatch.setitem(debtors.RECEIPTS, "email", (0.0, 1.0, 60.0))
    message = _handed_off(_history_account(creditor), make_variant("email"))
    bounce = debtors.receipt(seed=SEED, message=_as_row(message), index=INDEX, day=DAY)
    clock.set(bounce.when)
    debtors.event_apply(reaction=bounce, world=world, seed=SEED)
    clock.set(bounce.when + timedelta(days=1, hours=23))
    assert day_module.operators_work(creditor.pk, clock.now, seed=SEED, day=DAY) == {}
    clock.set(bounce.when + timedelta(days=2, minutes=1))
    counts = day_module.operators_work(creditor.pk, clock.now, seed=SEED, day=DAY)
    assert counts["bounces closed"] == 1
    review = HandoffReview.objects.get(message=message)
    assert (review.action, review.reason) == ("closed", day_module.BOUNCE_CLOSED)
    assert not handoffs_for(agency).exists()


# --- The same seed, the same draws --------------------------------------------------------------


def test_the_draws_follow_the_seed_the_debtor_and_the_day_not_the_message_id(world):
    sent_at = queues_setup.messaging_fixtures.T0

    def row_(pk: int):
        return SimpleNamespace(pk=pk, channel="email", tone="friendly", cta="pay_in_full",
                               sent_at=sent_at, timezone="America/New_York")  # fmt: skip

    def drawn(pk: int, **key):
        args = {"seed": SEED, "index": INDEX, "day": DAY, **key}
        return [
            (r.when, r.kind)
            for r in debtors.reactions(world=world, message=row_(pk), sends_before=0, **args)
        ]

    many = {seed: drawn(1, seed=seed) for seed in range(40)}
    assert drawn(1)  # opened at least: a draw worth comparing
    assert drawn(1) == drawn(987_654)  # another id, the same debtor, day and seed
    assert len({tuple(r) for r in many.values()}) > 1  # the seed changes them
    assert any(drawn(1, day=d) != drawn(1) for d in range(40))  # and so does the day
    assert (
        debtors.draws(seed=SEED, stream=debtors.ACT, index=INDEX, day=DAY).random()
        == debtors.draws(seed=SEED, stream=debtors.ACT, index=INDEX, day=DAY).random()
        != debtors.draws(seed=SEED, stream=debtors.FUNNEL, index=INDEX, day=DAY).random()
    )
