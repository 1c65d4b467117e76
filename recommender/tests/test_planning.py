"""plan_contacts end to end: who is due, candidates, compliance inside the choice, idempotency,
and the decision record on each message."""

from __future__ import annotations

from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from recommender.tests.conftest import place_accounts, utc

pytestmark = pytest.mark.django_db

NOW = utc(2026, 3, 10, 13, 0)  # 09:00 in Boston (US-MA)


def _plan(**kwargs):
    from recommender import services

    return services.plan_contacts(**kwargs)


def _messages(**filters):
    from messaging.models import Message

    return list(Message.objects.filter(**filters).order_by("pk"))


def test_each_due_account_gets_one_message_with_its_decision_record(creditor, library, clock):
    from recommender import features as F
    from recommender.models import Decision

    accounts = place_accounts(creditor, 4)
    result = _plan()
    assert result.planned == 4 and result.due == 4
    messages = _messages()
    assert [m.account_id for m in messages] == [a.pk for a in accounts]
    for m in messages:
        assert m.status == "planned" and m.stage == "first_contact"
        assert m.arm in {"policy", "control"}
        assert 0 < m.propensity <= 1
        assert m.explanation["action"]["channel"] == m.channel
        assert m.planned_at > NOW
        d = Decision.objects.get(message=m)
        assert d.arm == m.arm and d.stage == "first_contact"
        assert F.ACTIONS[d.action].channel == m.channel
        # the archetype's probability is at least the message's (a variant of it was drawn)
        assert d.propensity >= m.propensity - 1e-12
        assert Decision.unpack_eligible(d.eligible, F.N_ACTIONS)[d.action]
        assert Decision.unpack_context(d.context, F.N_FEATURES).shape == (F.N_FEATURES,)


def test_running_twice_or_after_a_kill_plans_each_account_once(creditor, library, clock):
    place_accounts(creditor, 5)
    first = _plan(limit=2)  # "killed" after two accounts
    assert first.planned == 2
    second = _plan()
    assert second.planned == 3
    third = _plan()
    assert third.planned == 0 and third.due == 0
    assert len(_messages()) == 5


def test_a_rerun_in_the_same_local_day_finds_the_slot_taken(creditor, library, clock, settings):
    from recommender.models import Decision

    place_accounts(creditor, 2)
    _plan()
    # Pretend the cadence allowed another message today: the slot key still holds.
    settings.RECOMMENDER_CADENCE_DAYS = {"first_contact": 0, "early": 0}
    settings.RECOMMENDER_DAILY_BUDGET = 5
    clock.move_to(utc(2026, 3, 10, 23, 30))  # 19:30 in Boston: after both, the same local day
    again = _plan()
    assert again.planned == 0 and again.existing == 2
    assert Decision.objects.count() == 2 and len(_messages()) == 2


def test_a_rerun_at_the_same_instant_finds_the_slot_taken(creditor, library, clock):
    """A clock that has not moved (or is behind) must not make a taken slot look new."""
    from messaging import selectors as messaging_selectors
    from recommender.models import Decision
    from recommender.selectors import DueAccount
    from recommender.services import planning

    accounts = place_accounts(creditor, 2)
    _plan()
    # The same accounts planned again by a worker whose clock has not moved on (the frozen
    # clock: the very same instant), e.g. a retried batch.
    again = planning.PlanResult()
    planning._plan_batch(
        due=[DueAccount(a, "first_contact") for a in accounts], now=NOW,
        variants=list(messaging_selectors.variants_live()), model=None, shares=(0.1, 0.0),
        actor="test", result=again,
    )  # fmt: skip
    assert again.planned == 0 and again.existing == 2
    assert Decision.objects.count() == 2 and len(_messages()) == 2


def test_cadence_per_stage_and_the_daily_budget_across_a_debtors_accounts(creditor, library, clock):
    from accounts.tests.factories import place, row

    a1, a2 = place(creditor, row(1), row(2, debtor={"external_ref": "D-1"}))  # one debtor
    assert a1.debtor_id == a2.debtor_id
    assert _plan().planned == 1  # daily budget: one message per debtor in any 24 hours
    assert _plan().planned == 0
    clock.shift(timedelta(days=2))
    result = _plan()
    assert result.planned == 1  # the second account's first contact
    assert _messages()[-1].account_id == a2.pk and _messages()[-1].stage == "first_contact"
    clock.shift(timedelta(days=2))  # four days after the first message: early-stage cadence 3
    assert _plan().planned == 1
    last = _messages()[-1]
    assert last.account_id == a1.pk and last.stage == "early"
    assert _plan().planned == 0


def test_preferred_channel_and_hours_are_hard_constraints(creditor, library, clock):
    from accounts.models import Debtor

    (account,) = place_accounts(creditor, 1)
    Debtor.objects.filter(pk=account.debtor_id).update(
        preferred_channel="sms", preferred_hours_start=time(18, 30), preferred_hours_end=time(20)
    )
    _plan()
    (m,) = _messages()
    assert m.channel == "sms"
    local = m.planned_at.astimezone(ZoneInfo("America/New_York"))
    assert time(18, 30) <= local.time() < time(20)


def test_compliance_blocks_are_dropped_before_the_choice(creditor, library, clock):
    """Massachusetts allows two texts a week: after two, only email and letters remain."""
    from compliance import services as compliance

    a1, _a2 = place_accounts(creditor, 2)
    for days in (1, 2):
        compliance.contact_record(
            debtor=a1.debtor, channel="sms", at=NOW - timedelta(days=days),
            outcome="delivered", source="test", account=a1,
        )  # fmt: skip
    _plan()
    m1, m2 = _messages()
    assert m1.channel in {"email", "letter"}
    assert m1.explanation["candidates"] < m2.explanation["candidates"]


def test_opted_out_channels_are_not_candidates(creditor, library, clock):
    from accounts.models import Debtor

    (account,) = place_accounts(creditor, 1)
    Debtor.objects.filter(pk=account.debtor_id).update(flags=["opted_out_email", "opted_out_sms"])
    _plan()
    (m,) = _messages()
    assert m.channel == "letter"
    assert m.explanation["candidates"] == 1


def test_no_candidates_means_no_message(creditor, library, clock):
    place_accounts(creditor, 1, language="de")  # the library is English only
    result = _plan()
    assert result.due == 1 and result.without_candidates == 1 and result.planned == 0
    assert _messages() == []


def test_paused_accounts_get_only_the_pause_ending_notice(creditor, library, clock):
    from accounts import services as accounts_services
    from accounts.models import Account
    from recommender.tests.conftest import make_variant

    make_variant(name="pause ending", channel="email", stages=["pause_ending"])
    a1, a2 = place_accounts(creditor, 2)
    for account, until in ((a1, date(2026, 3, 30)), (a2, date(2026, 3, 12))):
        accounts_services.account_transition(account=account, status="paused", actor="test")
        Account.objects.filter(pk=account.pk).update(paused_until=until)
    _plan()
    (m,) = _messages()
    assert m.account_id == a2.pk and m.stage == "pause_ending"


def test_plan_reminder_before_an_instalment_and_missed_instalment_after(creditor, library, clock):
    from accounts import services as accounts_services

    a1, a2 = place_accounts(creditor, 2)
    accounts_services.plan_create(
        account=a1, frequency="weekly", count=2, first_due=date(2026, 3, 12), actor="test"
    )
    accounts_services.plan_create(
        account=a2, frequency="weekly", count=2, first_due=date(2026, 3, 25), actor="test"
    )
    _plan()
    (m,) = _messages()
    assert m.account_id == a1.pk and m.stage == "plan_reminder"
    clock.shift(timedelta(days=4))  # the 12th passed unpaid; 3-day cadence
    _plan()
    assert _messages()[-1].stage == "missed_instalment"


def test_decisions_use_the_live_model_and_record_its_version(creditor, library, clock, settings):
    from recommender import services
    from recommender.tests.test_models import train_and_promote

    settings.RECOMMENDER_CONTROL_SHARE = 0.0
    model = train_and_promote(creditor, clock, start=900)
    services.policy_forget()
    place_accounts(creditor, 3, start=100)
    _plan()
    fresh = [m for m in _messages() if m.account.external_ref.startswith("ACC-1")]
    assert fresh and all(m.model_version == model.label for m in fresh)
    assert all(m.arm == "policy" and m.explanation.get("top") is not None for m in fresh)


def test_parts_plan_disjoint_debtors_that_together_are_everyone(creditor, library, clock):
    from accounts.tests.factories import place, row

    # Nine accounts; the first two share a debtor, so a part must take both or neither.
    place(creditor, row(1), row(2, debtor={"external_ref": "D-1"}))
    place_accounts(creditor, 7, start=3)
    from accounts.models import Account

    by_part = {}
    for part in range(3):
        result = _plan(part=part, parts=3)
        by_part[part] = {m.debtor_id for m in _messages() if m.debtor_id % 3 == part}
        assert result.planned == len(by_part[part]) > 0
        assert {m.debtor_id % 3 for m in _messages()} == set(range(part + 1))  # only its own
    planned = _messages()
    debtors = {a.debtor_id for a in Account.objects.all()}
    assert {m.debtor_id for m in planned} == debtors  # everyone, once per debtor (budget)
    assert len(planned) == len(debtors) == 8
    assert _plan().planned == 0  # a whole run afterwards finds everything planned


@pytest.mark.parametrize("parts, limit", [(2, 1), (2, 2), (3, 2), (3, 5)])
def test_the_pages_of_parts_cover_every_open_account_once(creditor, clock, parts, limit):
    from accounts.models import Account, AccountStatus
    from recommender.selectors import accounts_due

    placed = place_accounts(creditor, 11)
    Account.objects.filter(pk__in=[placed[3].pk, placed[4].pk]).update(status=AccountStatus.CLOSED)
    open_ids = {a.pk for a in placed} - {placed[3].pk, placed[4].pk}
    seen = []
    for part in range(parts):
        after, pages = 0, 0
        while True:
            page = accounts_due(now=NOW, after_id=after, limit=limit, part=part, parts=parts)
            if page.last_id is None:
                break
            assert page.last_id > after and len(page.due) <= limit
            after, pages = page.last_id, pages + 1
            assert all(d.account.debtor_id % parts == part for d in page.due)
            seen += [d.account.pk for d in page.due]
        assert pages <= len(open_ids)
    assert sorted(seen) == sorted(open_ids)  # each open account once, in one part


def test_a_part_outside_the_parts_is_refused(creditor, library, clock):
    with pytest.raises(ValueError, match="part must be in"):
        _plan(part=2, parts=2)


def test_the_hourly_task_fans_out_one_task_per_part_with_one_planning_time(
    creditor, library, clock, settings, monkeypatch
):
    from django_q import tasks as q_tasks

    from recommender import tasks

    place_accounts(creditor, 4)
    settings.RECOMMENDER_PLAN_PARTS = 2
    queued = []
    monkeypatch.setattr(q_tasks, "async_task", lambda func, *args, **kw: queued.append(args))
    out = tasks.plan_contacts_task()
    assert out["parts"] == 2 and [a[:2] for a in queued] == [(0, 2), (1, 2)]
    assert len({a[2] for a in queued}) == 1  # every part plans for the same instant
    planned = sum(tasks.plan_contacts_task(*args)["planned"] for args in queued)
    assert planned == 4 and len(_messages()) == 4
    assert sum(tasks.plan_contacts_task(*args)["planned"] for args in queued) == 0


def test_a_debtor_without_a_valid_zone_gets_send_times_in_the_zone_compliance_uses(
    creditor, library, clock
):
    from accounts.models import Debtor
    from messaging import selectors as messaging_selectors
    from recommender import services
    from recommender.selectors import DueAccount

    with_zone, without = place_accounts(creditor, 2)  # US-MA debtors
    Debtor.objects.filter(pk=with_zone.debtor_id).update(timezone="America/New_York")
    Debtor.objects.filter(pk=without.debtor_id).update(timezone="")  # old data: no zone
    for account in (with_zone, without):
        account.refresh_from_db()
    variants = list(messaging_selectors.variants_live())
    due = [DueAccount(with_zone, "first_contact"), DueAccount(without, "first_contact")]
    a, b = services.candidates_build(due=due, now=NOW, variants=variants)
    assert a and sorted((c.channel, c.at) for c in a) == sorted((c.channel, c.at) for c in b)


def _outbox_reltuples() -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'messaging_message'")
        return cursor.fetchone()[0]


def _outbox_statistics_forget() -> None:
    """As if the outbox was last analyzed before any message existed (rolled back after)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE pg_class SET reltuples = -1 WHERE relname = 'messaging_message'")


@pytest.mark.postgres
@pytest.mark.parametrize("threshold, refreshed", [(3, True), (4, False)])
def test_a_large_run_refreshes_the_outbox_statistics_the_dispatcher_plans_with(
    creditor, library, clock, settings, threshold, refreshed
):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    settings.RECOMMENDER_STATISTICS_AFTER = threshold
    place_accounts(creditor, 3)
    _outbox_statistics_forget()
    assert _plan().planned == 3
    assert _outbox_reltuples() == (3 if refreshed else -1)


def test_a_run_leaves_the_garbage_collector_as_python_runs_it(
    creditor, library, clock, monkeypatch
):
    """Standard collection: nothing is frozen out of the collector's reach and automatic
    collection stays on during a run, also when a run fails (docs/benchmarks.md, "gc.freeze
    in the planner", has the measurement that took the freeze out)."""
    import gc

    from recommender.services import planning

    place_accounts(creditor, 2)
    during = []
    batch = planning._plan_batch

    def spy(**kwargs):
        during.append((gc.get_freeze_count(), gc.isenabled()))
        return batch(**kwargs)

    monkeypatch.setattr(planning, "_plan_batch", spy)
    assert _plan().planned == 2
    assert during == [(0, True)]

    def fail(**kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(planning, "_plan_batch", fail)
    place_accounts(creditor, 1, start=50)
    with pytest.raises(RuntimeError):
        _plan()
    assert gc.get_freeze_count() == 0 and gc.isenabled()


def test_the_scan_reads_only_what_decides_who_is_due_in_a_constant_number_of_queries(
    creditor, clock, django_assert_num_queries
):
    from accounts.models import Account, AccountStatus
    from recommender.selectors import accounts_due

    placed = place_accounts(creditor, 9)
    paused = [placed[1].pk, placed[5].pk]  # open, but not due: no pause is ending
    Account.objects.filter(pk__in=paused).update(status=AccountStatus.PAUSED)
    for limit in (3, 9):  # a page's size does not change how many queries it takes
        with django_assert_num_queries(4):
            page = accounts_due(now=NOW, limit=limit)
        assert page.scanned == limit
    assert [d.account.pk for d in page.due] == [a.pk for a in placed if a.pk not in paused]
    assert {d.stage for d in page.due} == {"first_contact"}
    # The rest is read once, under lock, by the batch that plans them.
    assert all("current_balance" in d.account.get_deferred_fields() for d in page.due)


def test_a_batch_reads_its_accounts_once_under_lock_and_sees_changes_since_the_scan(
    creditor, library, clock, monkeypatch
):
    """An account closed between the scan and the batch gets no candidate (and so no blocked
    message either); the others are planned on accounts read once, in the batch."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import Account, AccountStatus
    from recommender.services import planning

    first, second = place_accounts(creditor, 2)
    scan = planning.selectors.accounts_due

    def scan_then_close(**kwargs):
        page = scan(**kwargs)
        Account.objects.filter(pk=first.pk).update(status=AccountStatus.CLOSED)
        return page

    monkeypatch.setattr(planning.selectors, "accounts_due", scan_then_close)
    with CaptureQueriesContext(connection) as queries:
        result = _plan()
    assert (result.due, result.without_candidates, result.planned) == (2, 1, 1)
    assert [m.account_id for m in _messages()] == [second.pk]
    whole = [
        q for q in queries.captured_queries if '"accounts_account"."current_balance"' in q["sql"]
    ]
    assert len(whole) == 1  # read whole once (locked on PostgreSQL), not by the scan as well
