"""`message_send`: checks, the frozen message, idempotent slots, blocks, enqueue after commit."""

from datetime import timedelta

import pytest

from accounts.models import Activity, ActivityKind, Debtor
from accounts.services import account_transition
from compliance.models import ComplianceDecision
from messaging import services
from messaging.models import Message, MessageStatus
from messaging.tests.conftest import variant_approve

pytestmark = pytest.mark.django_db


def test_send_writes_the_message_and_its_timeline_entry_and_pins_the_revision(
    clock, make_variant, place_one
):
    variant = make_variant("sms")
    account = place_one()
    message = services.message_send(
        account=account,
        variant=variant,
        planned_at=clock.now,
        stage="early",
        arm="control",
        propensity=0.25,
        model_version="uniform-1",
        explanation={"candidates": 4},
    )
    assert message.status == MessageStatus.PLANNED
    assert message.variant_revision_id == variant.live_revision_id
    assert message.recipient == "+16175550123"
    assert message.body.startswith("Hi Ada, $120.50 is due. Pay: http://localhost:8000/p/")
    # The region's SMS opt-out text is appended to the frozen content.
    assert message.body.endswith("Reply STOP to stop text messages about this debt.")
    assert message.initial is True
    assert (message.arm, message.propensity, message.model_version) == ("control", 0.25,
                                                                        "uniform-1")  # fmt: skip
    assert (
        message.decision_id
        and ComplianceDecision.objects.filter(
            pk=int(message.decision_id), allowed=True, purpose="send"
        ).exists()
    )
    planned = Activity.objects.get(kind=ActivityKind.MESSAGE_PLANNED)
    assert planned.data["message_id"] == message.pk and planned.account_id == account.pk
    assert planned.summary == "SMS message planned for 2026-03-10 15:00 UTC (control)."


def test_the_timeline_says_why_a_message_was_planned_in_one_sentence(
    clock, make_variant, place_one
):
    why = "Model pick: estimated conversion 2.5% against 2.1% for the other allowed kinds."
    services.message_send(
        account=place_one(), variant=make_variant("sms"), planned_at=clock.now,
        arm="policy", propensity=0.5, explanation={"why": why},
    )  # fmt: skip
    planned = Activity.objects.get(kind=ActivityKind.MESSAGE_PLANNED)
    assert planned.summary == (
        "SMS message planned for 2026-03-10 15:00 UTC (policy: Model pick: estimated "
        "conversion 2.5% against 2.1% for the other allowed kinds)."
    )
    assert planned.data["why"] == why  # the decision's own words, kept whole


def test_a_sent_message_keeps_its_revision_and_text_when_the_variant_changes(
    clock, make_variant, place_one, reviewer
):
    variant = make_variant("sms")
    first = services.message_send(account=place_one(), variant=variant, planned_at=clock.now)
    variant.sms_text = "New words for {{ first_name }}: {{ portal_link }}"
    variant.save_revision(user=reviewer)
    variant_approve(variant, reviewer)
    second = services.message_send(account=place_one(), variant=variant, planned_at=clock.now)
    first.refresh_from_db()
    assert first.variant_revision_id != second.variant_revision_id
    assert first.body.startswith("Hi Ada") and second.body.startswith("New words for Ada")


def test_a_retried_plan_never_creates_a_second_message(clock, make_variant, place_one):
    variant = make_variant("sms")
    other = make_variant("sms", name="other")
    account = place_one()
    first = services.message_send(account=account, variant=variant, planned_at=clock.now)
    again = services.message_send(account=account, variant=other, planned_at=clock.now)
    assert again.pk == first.pk and again.variant_id == variant.pk
    batch = services.messages_send(
        requests=[
            services.SendRequest(account=account, variant=variant, planned_at=clock.now),
            services.SendRequest(account=account, variant=variant, slot="evening"),
            services.SendRequest(account=account, variant=variant, slot="evening"),
        ]
    )
    assert batch[0].pk == first.pk and batch[1].pk == batch[2].pk != first.pk
    assert Message.objects.count() == 2
    assert Activity.objects.filter(kind=ActivityKind.MESSAGE_PLANNED).count() == 2


def test_compliance_block_at_planning_is_recorded_with_its_reasons_and_never_sent(
    clock, make_variant, place_one
):
    variant = make_variant("sms")
    account = place_one()
    night = clock.now.replace(hour=3)  # 23:00 in Massachusetts: SMS window closed
    message = services.message_send(account=account, variant=variant, planned_at=night)
    assert message.status == MessageStatus.BLOCKED
    assert "outside the allowed hours" in message.status_reason
    blocked = Activity.objects.get(kind=ActivityKind.MESSAGE_BLOCKED)
    assert blocked.data["decision_id"] and blocked.data["reasons"]
    assert services.dispatch_due(now=night + timedelta(days=1)).claimed == 0


@pytest.mark.parametrize(
    ("flags", "channel", "code"),
    [
        (["opted_out_sms"], "sms", "opted_out"),
        (["cease_communication"], "email", "cease_communication"),
        ([], "whatsapp", "no_consent"),
    ],
)
def test_opt_outs_cease_and_missing_consent_block_the_send(
    clock, make_variant, place_one, flags, channel, code
):
    variant = make_variant(channel)
    account = place_one(debtor={"flags": flags})
    message = services.message_send(account=account, variant=variant, planned_at=clock.now)
    assert message.status == MessageStatus.BLOCKED
    assert message.explanation["blocked"][0]["code"] == code


def test_whatsapp_with_consent_is_planned(clock, make_variant, place_one):
    variant = make_variant("whatsapp")
    account = place_one(debtor={"flags": ["consent_whatsapp"]})
    message = services.message_send(account=account, variant=variant, planned_at=clock.now)
    assert message.status == MessageStatus.PLANNED, message.status_reason


def test_a_closed_account_is_not_messaged(clock, make_variant, place_one):
    variant = make_variant("sms")
    account = place_one()
    account_transition(account=account, status="recalled", actor="test")
    message = services.message_send(account=account, variant=variant, planned_at=clock.now)
    assert message.status == MessageStatus.BLOCKED
    assert "recalled" in message.status_reason


def test_content_that_cannot_be_rendered_blocks_instead_of_crashing(clock, make_variant, place_one):
    variant = make_variant(
        "sms", stages=["plan_reminder"], sms_text="Next: {{ instalment_amount }}"
    )
    account = place_one()  # no payment plan: the placeholder has no value
    message = services.message_send(account=account, variant=variant, planned_at=clock.now)
    assert message.status == MessageStatus.BLOCKED
    assert message.explanation["blocked"][0]["code"] == "content_invalid"
    assert "instalment_amount" in message.status_reason


def test_refused_requests_write_nothing(clock, make_variant, place_one):
    gb_only = make_variant("sms", regions=["GB"])
    with pytest.raises(services.MessageRefused, match="not tagged for region US-MA"):
        services.message_send(account=place_one(), variant=gb_only, planned_at=clock.now)
    variant = make_variant("sms", name="early only")
    with pytest.raises(services.MessageRefused, match="not approved for stage late"):
        services.message_send(account=place_one(), variant=variant, stage="late")
    assert (
        not Message.objects.exists()
        and not Activity.objects.filter(kind__startswith="message_").exists()
    )


def test_accounts_locked_by_the_caller_are_used_as_locked_and_not_read_again(
    clock, make_variant, place_one
):
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from accounts.selectors import accounts_lock

    variant = make_variant("sms")
    account, other = place_one(), place_one()
    request = services.SendRequest(account=account, variant=variant, planned_at=clock.now)
    with transaction.atomic():
        locked = accounts_lock([account, other])
        # The caller changed the locked debtor in its transaction: the send sees that copy
        # (an opt-out here blocks), it does not read the account again.
        locked[account.pk].debtor.flags = ["opted_out_sms"]
        with CaptureQueriesContext(connection) as queries:
            (message,) = services.messages_send(requests=[request], locked=locked)
    assert message.status == MessageStatus.BLOCKED and "opted out" in message.status_reason
    assert not [q for q in queries.captured_queries if '"accounts_account"."status"' in q["sql"]]
    assert message.account_id == account.pk and Message.objects.count() == 1
    stranger = services.SendRequest(account=place_one(), variant=variant, planned_at=clock.now)
    with transaction.atomic(), pytest.raises(services.MessageRefused, match="not locked"):
        services.messages_send(requests=[stranger], locked=locked)
    assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_accounts_locked_beforehand_are_refused_outside_a_transaction(
    committed_baseline, clock, make_variant, place_one
):
    variant = make_variant("sms")
    account = place_one()
    locked = {account.pk: account}  # read in autocommit: whatever lock there was has ended
    request = services.SendRequest(account=account, variant=variant, planned_at=clock.now)
    with pytest.raises(services.MessageRefused, match="inside the transaction"):
        services.messages_send(requests=[request], locked=locked)
    assert not Message.objects.exists()


def test_delivery_is_enqueued_after_commit_and_not_before(
    clock, make_variant, place_one, django_capture_on_commit_callbacks
):
    variant = make_variant("sms")
    account = place_one()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = services.message_send(account=account, variant=variant, planned_at=clock.now)
    assert len(callbacks) == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.PLANNED  # nothing left before the commit
    callbacks[0]()  # the commit happens: the task runs (synchronously in tests)
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.provider == "file"


def test_a_message_planned_for_later_is_not_enqueued(
    clock, make_variant, place_one, django_capture_on_commit_callbacks
):
    variant = make_variant("sms")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = services.message_send(
            account=place_one(), variant=variant, planned_at=clock.now + timedelta(hours=2)
        )
    assert callbacks == []
    message.refresh_from_db()
    assert message.status == MessageStatus.PLANNED
    assert Debtor.objects.count() == 1


def test_a_german_sms_quoting_an_amount_is_sent_in_gsm_7(clock, make_variant, place_one):
    # babel writes "1.326,38\u00a0€"; a no-break space alone would make the whole SMS UCS-2
    # (70 characters a segment instead of 160).
    from messaging.rendering import sms_segments

    account = place_one(
        currency="EUR", original_amount="1326.38",
        debtor={"region": "DE", "phone": "+4915123456789", "language": "de",
                "timezone": "Europe/Berlin"},
    )  # fmt: skip
    variant = make_variant(
        "sms", language="de", sms_text="Hallo {{ first_name }}, {{ balance }} sind offen."
    )
    message = services.message_send(account=account, variant=variant, planned_at=clock.now)
    assert message.status == MessageStatus.PLANNED, message.status_reason
    assert message.body.startswith("Hallo Ada, 1.326,38 € sind offen.\n")
    assert "\u00a0" not in message.body and sms_segments(message.body).encoding == "GSM-7"
