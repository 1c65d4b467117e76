"""The demo history (docs/demo.md): a short history through the real pipeline, resumed after
an interruption without duplicates, refused outside a demo, a no-op once built, and its
progress on the Health page. PostgreSQL or SQLite, whichever the suite runs on."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Sum
from django_q.models import Schedule

from accounts.models import Account, Payment
from accounts.tests.factories import staff_client
from collections_site.demo_history import day as day_module
from collections_site.demo_history import debtors as debtors_module
from collections_site.demo_history import demo, runner
from collections_site.demo_history.models import DemoHistory
from collections_site.operations.models import AccountStatusDay
from messaging.demo import seed_library
from messaging.models import EventKind, Message, MessageEvent, MessageStatus
from portal.models import CallbackRequest, PortalDispute
from recommender.models import Decision, ModelVersion
from recommender.simulator import SIMULATOR_SETTINGS

pytestmark = pytest.mark.django_db(transaction=False)

DAYS, DEBTORS = 4, 80


@pytest.fixture
def demo_settings(settings, isolated):
    """A demo installation: DEMO_HISTORY on, the file backends, the disclosures' values, and
    a retraining threshold a small history reaches; more disputes and call-backs than the
    real shares give, so a few dozen debtors make some."""
    settings.DEMO_HISTORY = True
    settings.MESSAGING_DISCLOSURE_VALUES = SIMULATOR_SETTINGS["MESSAGING_DISCLOSURE_VALUES"]
    seed_library(stdout=StringIO())
    return settings


@pytest.fixture
def small(demo_settings, monkeypatch):
    monkeypatch.setitem(day_module.RETRAIN, "min_rows", 40)
    # Every clicker who does not pay either disputes or asks for a call back, so a history this
    # small is likely to have both (each path is forced in tests/test_demo_history_paths.py).
    monkeypatch.setattr(debtors_module, "DISPUTE_SHARE", 0.5)
    monkeypatch.setattr(debtors_module, "CALLBACK_SHARE", 0.5)
    return runner.history_prepare(days=DAYS, debtors=DEBTORS)


def _no_duplicates() -> None:
    creditor_id = DemoHistory.objects.get().creditor_id
    messages = Message.objects.filter(account__creditor_id=creditor_id)
    assert not messages.values("account_id", "slot").annotate(n=Count("id")).filter(n__gt=1)
    assert Decision.objects.filter(message__in=messages).count() == (
        Decision.objects.filter(message__in=messages).values("message_id").distinct().count()
    )
    events = MessageEvent.objects.filter(message__in=messages, kind__in=["opened", "clicked"])
    assert not events.values("message_id", "kind").annotate(n=Count("id")).filter(n__gt=1)
    payments = Payment.objects.filter(account__creditor_id=creditor_id)
    assert not payments.values("account_id", "received_at").annotate(n=Count("id")).filter(n__gt=1)


def test_a_short_history_runs_the_real_pipeline(small):
    chunk = runner.advance()
    row = DemoHistory.objects.get()
    assert chunk.days == DAYS and row.status == "done" and row.day_done == DAYS - 1
    accounts = Account.objects.filter(creditor_id=row.creditor_id)
    assert accounts.count() > DEBTORS // 2  # half placed on day 0, the rest over three weeks
    sent = Message.objects.filter(account__in=accounts, sent_at__isnull=False)
    assert sent.count() >= DEBTORS // 2  # a first contact each on day 0, then more
    assert sent.filter(status__in=[MessageStatus.SENT, MessageStatus.DELIVERED]).exists()
    # Every planned message went through the planner (a decision) and compliance.
    assert Decision.objects.filter(message__in=sent).count() == sent.count()
    assert {"policy", "control"} >= set(Decision.objects.values_list("arm", flat=True))
    kinds = set(MessageEvent.objects.filter(message__in=sent).values_list("kind", flat=True))
    assert {EventKind.DELIVERED, EventKind.OPENED, EventKind.CLICKED, EventKind.CONVERTED} <= kinds
    assert sent.filter(delivered_at__isnull=False).exists()  # the funnel's second stage
    assert Payment.objects.filter(account__in=accounts).exists()
    assert ModelVersion.objects.filter(status="live").exists()  # promoted on a night
    assert accounts.filter(debtor__typology__isnull=False).exists()
    # Work for the queues: every request the history drew became its row. (How many it draws
    # in a history this small is left to the draws and to what the planner sent; each path is
    # forced, and its rows checked, in tests/test_demo_history_paths.py.)
    disputes = PortalDispute.objects.filter(account__in=accounts).count()
    callbacks = CallbackRequest.objects.filter(account__in=accounts).count()
    assert callbacks >= row.counts.get("call-back requested", 0)  # follow-ups add more
    assert row.counts.get("disputed", 0) == disputes
    # The accounts-by-status chart has a snapshot of each simulated day, taken at its end.
    snapshots = AccountStatusDay.objects.filter(creditor_id=row.creditor_id)
    days = sorted(set(snapshots.values_list("day", flat=True)))
    assert days[:DAYS] == [(row.start + timedelta(days=k)).date() for k in range(DAYS)]
    first = snapshots.filter(day=row.start.date()).aggregate(n=Sum("accounts"))["n"]
    assert first == DEBTORS // 2  # day 0: half the debtors placed
    # Times are the simulated ones: the history ends before today.
    assert sent.latest("sent_at").sent_at < row.start + timedelta(days=DAYS + 1)
    _no_duplicates()


def test_an_interrupted_day_is_run_again_without_duplicates(small, monkeypatch):
    runner.advance(max_days=1)
    real = debtors_module.instalments_pay

    def killed(**kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(debtors_module, "instalments_pay", killed)  # at 18:00 of day 1
    with pytest.raises(RuntimeError):
        runner.advance()
    row = DemoHistory.objects.get()
    assert row.status == "failed" and row.day_done == 0
    assert "worker killed" in row.error
    half_day = Message.objects.filter(sent_at__isnull=False).count()
    monkeypatch.setattr(debtors_module, "instalments_pay", real)
    runner.advance()
    row.refresh_from_db()
    assert row.status == "done" and row.day_done == DAYS - 1
    assert Message.objects.filter(sent_at__isnull=False).count() >= half_day
    _no_duplicates()


def test_a_finished_history_is_left_as_it_is(small):
    runner.advance()
    before = (Message.objects.count(), Payment.objects.count(), MessageEvent.objects.count())
    assert runner.advance().ran is False
    out = StringIO()
    call_command("demo_history", days=DAYS, debtors=DEBTORS, stdout=out)
    assert f"day {DAYS} of {DAYS}" in out.getvalue() and "done" in out.getvalue()
    after = (Message.objects.count(), Payment.objects.count(), MessageEvent.objects.count())
    assert after == before


def test_the_live_schedules_are_held_while_it_builds_and_given_back(small):
    from django.utils import timezone

    plan = Schedule.objects.create(
        name="test.plan", func="recommender.tasks.plan_contacts_task", schedule_type="H",
        next_run=timezone.now(),
    )  # fmt: skip
    runner.advance(max_days=1)
    plan.refresh_from_db()
    assert plan.next_run > timezone.now() + timedelta(days=365)
    runner.advance()
    plan.refresh_from_db()
    assert plan.next_run <= timezone.now()


def test_refused_outside_a_demo(settings, isolated):
    settings.DEMO_HISTORY = False
    with pytest.raises(CommandError, match="only in a demo"):
        call_command("demo_history", days=2, debtors=10)
    with pytest.raises(runner.HistoryRefused):
        runner.advance()
    out = StringIO()
    demo.seed(creditor=None, stdout=out)
    assert not DemoHistory.objects.exists() and out.getvalue() == ""


def test_refused_when_a_channel_would_reach_a_real_provider(demo_settings):
    demo_settings.MESSAGING_SMS_BACKEND = "messaging.backends.sms.TwilioBackend"
    with pytest.raises(CommandError, match="MESSAGING_SMS_BACKEND"):
        call_command("demo_history", days=2, debtors=10)
    demo_settings.MESSAGING_SMS_BACKEND = "messaging.backends.sms.FileSmsBackend"
    demo_settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    with pytest.raises(CommandError, match="MESSAGING_EMAIL_CHANNEL_BACKEND"):
        call_command("demo_history", days=2, debtors=10)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"days": 0, "debtors": 10}, "at least 1"), ({"days": 3, "debtors": -5}, "at least 1")],
)
def test_bad_sizes_are_refused_with_a_message(demo_settings, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("demo_history", **options)


def test_another_size_needs_reset(small):
    with pytest.raises(CommandError, match="--reset"):
        call_command("demo_history", days=DAYS + 1, debtors=DEBTORS)


def test_reset_deletes_the_history_and_starts_again(small):
    runner.advance(max_days=2)
    creditor_id = DemoHistory.objects.get().creditor_id
    call_command("demo_history", days=1, debtors=20, reset=True, stdout=StringIO())
    assert not Account.objects.filter(creditor_id=creditor_id).exists()
    row = DemoHistory.objects.get()
    assert (row.days, row.debtors, row.status) == (1, 20, "done")


@pytest.mark.postgres
def test_seed_demo_queues_it_once_and_the_task_builds_it(demo_settings, monkeypatch):
    # Test settings run tasks in place: the queued task builds the whole (tiny) history.
    monkeypatch.setattr(demo_settings, "DEMO_HISTORY_DAYS", 2, raising=False)
    monkeypatch.setattr(demo_settings, "DEMO_HISTORY_DEBTORS", 20, raising=False)
    out = StringIO()
    demo.seed(creditor=None, stdout=out)
    assert "Demo history: queued" in out.getvalue()
    assert DemoHistory.objects.get().status == "done"
    assert not Schedule.objects.filter(name="demo_history.continue").exists()
    again = StringIO()
    demo.seed(creditor=None, stdout=again)
    assert "Demo history: built" in again.getvalue()


def test_the_health_page_shows_the_progress(small):
    client = staff_client(agency=True)
    page = client.get("/admin/operations/").content.decode()
    assert 'data-demo-history="queued"' in page
    runner.advance(max_days=1)
    page = client.get("/admin/operations/").content.decode()
    assert f"day 1 of {DAYS} ({DEBTORS} debtors)" in page
    assert 'data-demo-history="running"' in page
    runner.advance()
    page = client.get("/admin/operations/").content.decode()
    assert 'data-demo-history="done"' in page and f"Built: {DAYS} simulated days" in page


def test_creditor_staff_do_not_see_it(small, creditor):
    page = staff_client(creditor=creditor).get("/admin/operations/").content.decode()
    assert "data-demo-history" not in page
