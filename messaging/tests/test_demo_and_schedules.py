"""The demo library and the django-q2 schedules."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from messaging.demo import seed_library
from messaging.models import MessageVariant

pytestmark = pytest.mark.django_db


def test_seed_library_approves_a_varied_starter_library_idempotently():
    variants = seed_library(stdout=io.StringIO())
    assert len(variants) == 54
    live = MessageVariant.objects.filter(live=True)
    assert live.count() == len(variants) == MessageVariant.objects.count()
    assert all(v.live_revision_id for v in live)
    assert set(live.values_list("language", flat=True)) == {"en", "fr", "de"}
    assert set(live.values_list("channel", flat=True)) == {"email", "sms", "whatsapp", "letter"}
    assert set(live.values_list("tone__slug", flat=True)) == {
        "friendly", "empathetic", "formal", "firm"
    }  # fmt: skip
    assert len(set(live.values_list("cta", flat=True))) >= 5
    stages = {s for v in live for s in v.stages}
    assert stages == {"first_contact", "early", "mid", "late", "plan_reminder",
                      "missed_instalment", "pause_ending"}  # fmt: skip
    # The portal's fresh link and lock notice, and the two outcomes of a dispute
    # (docs/queues.md), go out in every language of the demo, by email, or by letter to a
    # debtor reached only by post; a fresh link by SMS too.
    for cta in ("portal_link", "portal_locked", "dispute_upheld", "dispute_debt_stands"):
        notices = live.filter(cta=cta)
        for channel in ("email", "letter"):
            languages = set(notices.filter(channel=channel).values_list("language", flat=True))
            assert languages == {"en", "fr", "de"}, (cta, channel)
    fresh = live.filter(cta="portal_link")
    assert set(fresh.filter(channel="sms").values_list("language", flat=True)) == {"en", "fr", "de"}
    assert all("{{ portal_link }}" in (v.email_body + v.sms_text + v.letter_body) for v in fresh)
    # Approved through the workflow, not published around it.
    assert all(v.workflow_states.filter(status="approved").exists() for v in live)
    revisions = sum(v.revisions.count() for v in live)
    out = io.StringIO()
    seed_library(stdout=out)
    assert MessageVariant.objects.count() == len(variants)
    assert sum(v.revisions.count() for v in MessageVariant.objects.all()) == revisions
    assert "(0 new)" in out.getvalue()


def test_dispatch_schedule_exists_once_and_the_command_is_idempotent():
    schedule = Schedule.objects.get(name="messaging.dispatch_due")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "messaging.tasks.dispatch_due", Schedule.MINUTES, 1,
    )  # fmt: skip
    schedule.minutes = 30
    schedule.save()
    call_command("messaging_schedules", stdout=io.StringIO())
    call_command("messaging_schedules", stdout=io.StringIO())
    assert Schedule.objects.filter(name="messaging.dispatch_due").count() == 1
    assert Schedule.objects.get(name="messaging.dispatch_due").minutes == 1


def test_tasks_are_safe_to_run_twice(clock, make_variant, place_one):
    from messaging import services, tasks

    variant = make_variant("sms")
    message = services.message_send(account=place_one(), variant=variant, planned_at=clock.now)
    assert tasks.message_deliver(message.pk) == "claimed=1 sent=1"
    assert tasks.message_deliver(message.pk) == "claimed=0 sent=0"
    assert tasks.dispatch_due().startswith("claimed=0 sent=0")


@pytest.mark.parametrize("size", ["0", "-1"])
def test_dispatch_command_refuses_a_batch_size_below_one(size):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--batch-size"):
        call_command("dispatch_due", "--batch-size", size, stdout=io.StringIO())


def test_dispatch_command_reports_what_it_did(clock, make_variant, place_one):
    from messaging import services

    services.message_send(
        account=place_one(), variant=make_variant("sms"), planned_at=clock.now + timedelta(hours=1)
    )
    clock.set(clock.now + timedelta(hours=1))
    out = io.StringIO()
    call_command("dispatch_due", "--batch-size", "5", stdout=out)
    assert out.getvalue().startswith("claimed=1 sent=1 ")
