"""Retention: per-region periods (shipped defaults, parents, settings), applied by a daily
django-q2 task and `manage.py retention_apply` in batches, idempotently; `--dry-run` counts
per kind and region and changes nothing."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.checks import run_checks
from django.core.management import call_command
from django_q.models import Schedule

from accounts import services as accounts
from accounts.models import Debtor
from accounts.tests.factories import place, row
from collections_site.privacy import retention, services, tasks
from collections_site.privacy.models import PrivacyAction
from compliance.models import ComplianceDecision
from messaging import services as messaging
from messaging.models import Message
from portal.models import LockScope, VerificationLock

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # inside the US and French contact windows
YEAR = timedelta(days=365)


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    from compliance.selectors import rules_cache_reset

    settings.MESSAGING_OUTBOX_DIR = tmp_path / "outbox"
    # Every disclosure a region asks for can be filled, so French messages go out too.
    settings.MESSAGING_DISCLOSURE_VALUES = dict.fromkeys(
        settings.MESSAGING_DISCLOSURE_VALUES, "Collections Ltd, 1 Rue de Paris"
    )
    rules_cache_reset()
    yield
    rules_cache_reset()


def test_a_regions_periods_are_its_own_then_its_parents_then_the_default(settings):
    assert retention.periods_for("US-MA")["message_content"].days == 3 * 365
    assert retention.periods_for("US-MA")["message_content"].after_final
    assert "1006.100" in retention.periods_for("US-NY-NYC")["compliance_decisions"].citation
    assert retention.periods_for("FR")["message_content"].days == 365
    assert "Platform default" in retention.periods_for("FR")["closed_accounts"].citation

    settings.PRIVACY_RETENTION = {"US-MA": {"message_content": {"days": 2000}}}
    assert retention.periods_for("US-MA")["message_content"].days == 2000
    assert retention.periods_for("US-MA")["message_content"].after_final  # inherited
    assert retention.periods_for("US-NY")["message_content"].days == 3 * 365


@pytest.mark.parametrize(
    "overrides",
    [
        {"XX-NOWHERE": {"message_content": {"days": 30}}},
        {"FR": {"message_content": {"days": 0}}},
        {"FR": {"messages": {"days": 30}}},
        {"FR": {"portal_ip_digests": {"days": 3}}},
        {"FR": {"message_content": 30}},
    ],
)
def test_a_retention_setting_retention_cannot_read_stops_the_site(settings, overrides):
    settings.PRIVACY_RETENTION = overrides
    assert [e.id for e in run_checks() if e.id.startswith("privacy.")] == ["privacy.E001"]


def test_the_shipped_retention_setting_passes_the_check():
    assert [e.id for e in run_checks() if e.id.startswith("privacy.")] == []


def _placed_and_messaged(creditor, ref: str, region: str):
    from recommender.tests.conftest import make_variant

    if not Message.objects.exists():
        make_variant(name="email", channel="email")
    (account,) = place(
        creditor, row(ref, debtor={"external_ref": f"D-{ref}", "region": region, "phone": ""})
    )
    from messaging.models import MessageVariant

    message = messaging.message_send(
        account=account, variant=MessageVariant.objects.get(name="email"), planned_at=T0
    )
    assert message.status == "planned", message.status_reason
    return account, message


def _lines(out: str) -> dict[tuple[str, str], int]:
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0] in retention.KINDS and parts[3].isdigit():
            found[parts[0], parts[1]] = int(parts[3])
    return found


def _retention_command(*args: str) -> dict[tuple[str, str], int]:
    out = io.StringIO()
    call_command("retention_apply", *args, stdout=out)
    text = out.getvalue()
    assert "@example.com" not in text and "Lovelace" not in text  # counts, no personal data
    return _lines(text)


def test_retention_over_the_years_removes_each_kind_once_its_period_ends(creditor):
    with time_machine.travel(T0, tick=False):
        fr, fr_message = _placed_and_messaged(creditor, "FR1", "FR")
        us, us_message = _placed_and_messaged(creditor, "US1", "US-MA")
        messaging.dispatch_due(now=T0 + timedelta(minutes=1))
    fr_decisions = ComplianceDecision.objects.filter(debtor=fr.debtor).count()
    assert fr_decisions and ComplianceDecision.objects.filter(debtor=us.debtor).exists()
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        accounts.account_transition(account=fr, status="closed", actor="test")

    with time_machine.travel(T0 + 400 * timedelta(days=1), tick=False):
        dry = _retention_command("--dry-run")
        assert dry[("message_content", "default")] == 1  # France: a year after sending
        assert dry[("message_content", "US")] == 0  # US: 3 years after the account is final
        assert Message.objects.get(pk=fr_message.pk).body  # a dry run changes nothing
        assert _retention_command() == dry
        assert Message.objects.get(pk=fr_message.pk).recipient == "[removed]"
        assert Message.objects.get(pk=us_message.pk).body
        assert set(_retention_command().values()) == {0}  # nothing twice

    with time_machine.travel(T0 + 4 * YEAR, tick=False):
        done = _retention_command()
        assert done[("compliance_decisions", "default")] == fr_decisions
        assert done[("compliance_decisions", "US")] == 0  # the US account is still open
        assert not ComplianceDecision.objects.filter(debtor=fr.debtor).exists()

    with time_machine.travel(T0 + 6 * YEAR + timedelta(days=2), tick=False):
        assert _retention_command()[("closed_accounts", "default")] == 1
    fr_debtor = Debtor.objects.get(pk=fr.debtor_id)
    assert fr_debtor.erased_at is not None and fr_debtor.email == ""
    action = PrivacyAction.objects.get(debtor=fr_debtor)
    assert action.actor == "retention" and "every account final" in action.reason
    assert Debtor.objects.get(pk=us.debtor_id).erased_at is None


def test_retention_works_in_batches_until_everything_due_is_done(creditor):
    with time_machine.travel(T0, tick=False):
        for n in range(3):
            _placed_and_messaged(creditor, f"FR{n}", "FR")
        messaging.dispatch_due(now=T0 + timedelta(minutes=1))
    lines = services.retention_apply(dry_run=False, now=T0 + 2 * YEAR, batch=1)
    assert {(x.kind, x.region): x.count for x in lines}[("message_content", "default")] == 3
    assert not Message.objects.exclude(recipient="[removed]").exists()


def test_idle_portal_ip_counters_go_and_live_ones_stay():
    with time_machine.travel(T0, tick=False):
        VerificationLock.objects.create(scope=LockScope.IP, key="a" * 64, failures=2)
        VerificationLock.objects.create(scope=LockScope.LINK, key="jti-old")
    with time_machine.travel(T0 + timedelta(days=3), tick=False):
        VerificationLock.objects.create(scope=LockScope.IP, key="b" * 64, failures=1)
        lines = services.retention_apply(dry_run=False)
    assert {(x.kind, x.region): x.count for x in lines}[("portal_ip_digests", "default")] == 1
    assert set(VerificationLock.objects.values_list("key", flat=True)) == {"b" * 64, "jti-old"}


def test_a_daily_schedule_runs_the_retention_task():
    schedule = Schedule.objects.get(name="privacy.retention_apply")
    assert (schedule.func, schedule.schedule_type) == (
        "collections_site.privacy.tasks.retention_apply",
        Schedule.DAILY,
    )
    assert tasks.retention_apply() == {}  # nothing due in an empty database
