"""The work queues' services: each dispute step with its timeline entry and the outcome sent
through `message_send`; a call's outcome in the contact ledger, counted by the caps; promises
to pay followed up; failed messages re-sent (once) or closed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from accounts import services as accounts
from accounts.models import AccountStatus, Activity, ActivityKind, DomainError
from accounts.tests.factories import UserFactory
from compliance.models import ComplianceDecision, ContactAttempt
from messaging import services as messaging
from messaging.models import HandoffReview, Message, MessageStatus, MessageVariant, ReviewAction
from portal import services as portal
from portal.models import (
    CallbackRequest,
    CallbackStatus,
    DisputeStatus,
    PortalDispute,
    PromiseStatus,
)
from portal.selectors import debtor_today
from tests import queues_setup
from tests.queues_setup import callback_of, dispute_of, failed_message, placed

# The queues' fixtures (tests/queues_setup.py).
_compliance_rules_fresh = queues_setup._compliance_rules_fresh
clock = queues_setup.clock
make_variant = queues_setup.make_variant
notices = queues_setup.notices
reviewer = queues_setup.reviewer

pytestmark = pytest.mark.django_db


def _entries(account, **data):
    return Activity.objects.filter(account=account, **{f"data__{k}": v for k, v in data.items()})


# --- disputes ---------------------------------------------------------------------------------


def test_a_dispute_gets_its_regions_response_deadline(clock, creditor):
    us = dispute_of(creditor)
    gb = dispute_of(creditor, debtor={"region": "GB", "postal_code": "SW1A 1AA"})
    assert us.due_at == clock.now + timedelta(days=30)
    assert gb.due_at == clock.now + timedelta(days=56)
    assert portal.dispute_response_days("US-MA") == 30
    assert portal.dispute_response_days("FR") == 30  # the default


def test_assigning_and_waiting_each_write_a_timeline_entry(clock, creditor):
    dispute = dispute_of(creditor)
    operator = UserFactory(is_staff=True, username="olga")
    portal.dispute_assign(dispute=dispute, user=operator, actor="admin:1")
    assigned = _entries(dispute.account, dispute_id=dispute.pk, assigned_to=operator.pk)
    assert assigned.get().summary == f"Dispute {dispute.pk} assigned to olga."
    portal.dispute_assign(dispute=dispute, user=operator, actor="admin:1")  # no change, no row
    assert assigned.count() == 1

    portal.dispute_wait(dispute=dispute, actor="admin:1")
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.AWAITING_EVIDENCE and dispute.status_changed_at
    waiting = _entries(dispute.account, dispute_id=dispute.pk, to="awaiting_evidence")
    assert waiting.get().kind == ActivityKind.DISPUTE
    portal.dispute_wait(dispute=dispute, actor="admin:1", waiting=False)
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.OPEN
    assert _entries(dispute.account, dispute_id=dispute.pk, to="open").count() == 1
    dispute.account.refresh_from_db()
    assert dispute.account.status == AccountStatus.DISPUTED  # paused until resolved


def test_the_debt_stands_the_account_resumes_and_the_debtor_is_told(clock, creditor, notices):
    dispute = dispute_of(creditor)
    portal.dispute_resolve(dispute=dispute, upheld=False, actor="admin:7", note="Signed contract.")
    dispute.refresh_from_db()
    dispute.account.refresh_from_db()
    assert dispute.status == DisputeStatus.DEBT_STANDS and dispute.resolved_at == clock.now
    assert dispute.resolution_note == "Signed contract." and dispute.resolved_by == "admin:7"
    assert dispute.account.status == AccountStatus.ACTIVE
    message = dispute.outcome_message
    assert message.variant_id == notices["stands"].pk
    assert (
        message.status == MessageStatus.PLANNED and message.slot == f"dispute-outcome-{dispute.pk}"
    )
    assert message.decision_id  # an audited compliance decision let it through
    resolved = _entries(dispute.account, dispute_id=dispute.pk, to="debt_stands").get()
    assert resolved.actor == "admin:7" and "the debt stands" in resolved.summary
    assert "Signed contract" not in str(resolved.data)  # the note stays on the dispute


def test_upheld_closes_the_account_and_the_notice_still_goes(clock, creditor, notices):
    dispute = dispute_of(creditor)
    portal.dispute_resolve(dispute=dispute, upheld=True, actor="admin:7")
    dispute.refresh_from_db()
    dispute.account.refresh_from_db()
    assert dispute.status == DisputeStatus.UPHELD
    assert dispute.account.status == AccountStatus.CLOSED
    message = dispute.outcome_message
    assert message.variant_id == notices["upheld"].pk and message.status == MessageStatus.PLANNED
    # A collection message to the closed account is still refused.
    collection = messaging.message_send(
        account=dispute.account, variant=notices["collection"], slot="after"
    )
    assert collection.status == MessageStatus.BLOCKED


def test_a_resolved_dispute_is_final(clock, creditor, notices):
    dispute = dispute_of(creditor)
    portal.dispute_resolve(dispute=dispute, upheld=False, actor="admin:7")
    with pytest.raises(DomainError, match="already resolved"):
        portal.dispute_resolve(dispute=dispute, upheld=True, actor="admin:7")
    with pytest.raises(DomainError):
        portal.dispute_wait(dispute=dispute, actor="admin:7")
    assert Message.objects.filter(slot__startswith="dispute-outcome").count() == 1


def test_without_a_notice_the_timeline_says_to_tell_the_debtor_another_way(clock, creditor):
    dispute = dispute_of(creditor)
    portal.dispute_resolve(dispute=dispute, upheld=False, actor="admin:7")
    dispute.refresh_from_db()
    assert dispute.outcome_message is None
    assert _entries(dispute.account, dispute_id=dispute.pk, outcome_message=None).exists()


def test_an_opted_out_debtor_gets_no_outcome_email(clock, creditor, notices):
    dispute = dispute_of(creditor, debtor={"flags": ["opted_out_email"]})
    portal.dispute_resolve(dispute=dispute, upheld=False, actor="admin:7")
    dispute.refresh_from_db()
    assert dispute.outcome_message is None


def test_a_debtor_reached_only_by_post_hears_the_outcome_by_letter(
    clock, creditor, notices, make_variant
):
    letter = make_variant("letter", name="upheld letter", letter_body="Dear {{ last_name }}, "
                          "{{ creditor_name }} has withdrawn the debt.")  # fmt: skip
    MessageVariant.objects.filter(pk=letter.pk).update(cta="dispute_upheld")
    dispute = dispute_of(creditor, debtor={"flags": ["opted_out_email"], "phone": ""})
    portal.dispute_resolve(dispute=dispute, upheld=True, actor="admin:7")
    dispute.refresh_from_db()
    message = dispute.outcome_message
    assert message.variant_id == letter.pk and message.status == MessageStatus.PLANNED
    assert message.recipient.startswith(dispute.account.debtor.full_name)


# --- call backs -------------------------------------------------------------------------------


def test_a_logged_call_is_in_the_ledger_and_the_caps_count_it(clock, creditor):
    # US-MA: two call attempts per rolling seven days per debt.
    first = callback_of(creditor)
    account = first.account
    assert portal.callback_call_check(callback=first).allowed
    portal.callback_outcome_log(callback=first, outcome="no_answer", actor="admin:3")
    first.refresh_from_db()
    assert first.status == CallbackStatus.DONE and first.outcome == "no_answer"
    attempt = ContactAttempt.objects.get(reference=f"callback:{first.pk}")
    assert (attempt.channel, attempt.outcome, attempt.account_id) == (
        "call",
        "no_answer",
        account.pk,
    )
    logged = Activity.objects.get(kind=ActivityKind.CONTACT_RECORDED, account=account)
    assert logged.actor == "admin:3" and logged.data["contact_attempt"] == attempt.pk

    second = callback_of(creditor, account=account)
    portal.callback_outcome_log(callback=second, outcome="voicemail", actor="admin:3")
    third = callback_of(creditor, account=account)
    check = portal.callback_call_check(callback=third)
    assert not check.allowed
    assert any("US-MA" in r["code"] for r in check.reasons), check.reasons
    assert check.decision_id  # the operator's page asks with an audited check


def test_logging_twice_is_refused_and_bad_promises_name_their_field(clock, creditor):
    callback = callback_of(creditor)
    with pytest.raises(portal.CallbackError) as amount:
        portal.callback_outcome_log(
            callback=callback, outcome="promise", actor="a", promise_amount="-5",
            promise_date=debtor_today(callback.debtor),
        )  # fmt: skip
    assert amount.value.field == "promise_amount"
    with pytest.raises(portal.CallbackError) as when:
        portal.callback_outcome_log(
            callback=callback, outcome="promise", actor="a", promise_amount="10",
            promise_date=debtor_today(callback.debtor) - timedelta(days=1),
        )  # fmt: skip
    assert when.value.field == "promise_date"
    with pytest.raises(portal.CallbackError) as outcome:
        portal.callback_outcome_log(callback=callback, outcome="shouted", actor="a")
    assert outcome.value.field == "outcome"
    assert not ContactAttempt.objects.exists()  # nothing was written
    portal.callback_outcome_log(callback=callback, outcome="conversation", actor="a")
    with pytest.raises(portal.CallbackError, match="already logged"):
        portal.callback_outcome_log(callback=callback, outcome="conversation", actor="a")


def _promise(creditor, clock, amount="40.00"):
    callback = callback_of(creditor)
    due = debtor_today(callback.debtor) + timedelta(days=3)
    portal.callback_outcome_log(
        callback=callback, outcome="promise", actor="admin:3",
        promise_amount=Decimal(amount), promise_date=due,
    )  # fmt: skip
    callback.refresh_from_db()
    return callback


def test_a_broken_promise_books_a_follow_up_call_back(clock, creditor):
    callback = _promise(creditor, clock)
    assert callback.promise_status == PromiseStatus.PENDING
    attempt = ContactAttempt.objects.get(reference=f"callback:{callback.pk}")
    assert attempt.outcome == "conversation"
    assert portal.promises_check() == {"kept": 0, "broken": 0, "follow_ups": 0}  # not yet due
    clock.set(clock.now + timedelta(days=6))
    assert portal.promises_check() == {"kept": 0, "broken": 1, "follow_ups": 1}
    callback.refresh_from_db()
    assert callback.promise_status == PromiseStatus.BROKEN
    follow_up = CallbackRequest.objects.get(follows_up=callback)
    assert follow_up.status == CallbackStatus.OPEN and follow_up.account_id == callback.account_id
    assert Activity.objects.filter(data__promise="broken", account=callback.account).exists()
    assert portal.promises_check() == {"kept": 0, "broken": 0, "follow_ups": 0}  # idempotent


def test_a_promise_paid_is_kept(clock, creditor):
    callback = _promise(creditor, clock)
    clock.set(clock.now + timedelta(days=2))
    accounts.payment_record(
        account=callback.account, amount=Decimal("40.00"), idempotency_key="p1",
        method="card", actor="t",
    )  # fmt: skip
    clock.set(clock.now + timedelta(days=4))
    assert portal.promises_check()["kept"] == 1
    callback.refresh_from_db()
    assert callback.promise_status == PromiseStatus.KEPT
    assert not CallbackRequest.objects.filter(follows_up=callback).exists()


# --- failed hand-offs -------------------------------------------------------------------------


def test_a_resend_goes_through_message_send_once(clock, creditor, notices):
    failed = failed_message(creditor, notices["collection"])
    review = messaging.handoff_resend(message=failed, actor="admin:2")
    assert review.action == ReviewAction.RESENT
    resent = review.resent
    assert resent.pk != failed.pk and resent.slot == f"resend-{failed.pk}"
    assert resent.status == MessageStatus.PLANNED and resent.decision_id
    again = messaging.handoff_resend(message=failed.pk, actor="admin:2")  # a double click
    assert again.pk == review.pk and again.resent_id == resent.pk
    assert Message.objects.filter(account=failed.account).count() == 2
    closed = messaging.handoff_close(message=failed, reason="late", actor="admin:2")
    assert closed.action == ReviewAction.RESENT  # the first answer stands
    assert Activity.objects.filter(data__resent_id=resent.pk).count() == 1


def test_a_resend_is_checked_again_and_may_be_blocked(clock, creditor, notices):
    failed = failed_message(creditor, notices["collection"])
    accounts.debtor_opt_out(debtor=failed.debtor, channel="email", actor="t", summary="s")
    review = messaging.handoff_resend(message=failed, actor="admin:2")
    assert review.resent.status == MessageStatus.BLOCKED


def test_closing_needs_a_reason_and_is_recorded(clock, creditor, notices):
    failed = failed_message(creditor, notices["collection"])
    with pytest.raises(messaging.HandoffReviewError):
        messaging.handoff_close(message=failed, reason="  ", actor="admin:2")
    review = messaging.handoff_close(message=failed, reason="Provider confirmed delivery.",
                                     actor="admin:2")  # fmt: skip
    assert review.action == ReviewAction.CLOSED and review.reason == "Provider confirmed delivery."
    assert HandoffReview.objects.count() == 1
    assert Activity.objects.filter(data__review="closed", data__message_id=failed.pk).exists()


def test_only_failed_messages_are_answered(clock, creditor, notices):
    sent = messaging.message_send(account=placed(creditor), variant=notices["collection"])
    with pytest.raises(messaging.HandoffReviewError):
        messaging.handoff_resend(message=sent, actor="admin:2")


def test_the_contact_ledger_check_names_the_callback_purpose(clock, creditor):
    callback = callback_of(creditor)
    check = portal.callback_call_check(callback=callback)
    assert ComplianceDecision.objects.get(pk=check.decision_id).purpose == "callback"


def test_the_migration_names_the_outcome_of_disputes_resolved_before(clock, creditor):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("portal.migrations.0005_dispute_statuses_named")
    upheld, stands, still_open = (dispute_of(creditor) for _ in range(3))
    accounts.account_transition(account=upheld.account, status="closed", actor="t")
    accounts.account_transition(account=stands.account, status="active", actor="t")
    PortalDispute.objects.filter(pk__in=[upheld.pk, stands.pk]).update(status="resolved")
    PortalDispute.objects.filter(pk=still_open.pk).update(due_at=None)
    migration.forwards(apps, None)
    statuses = dict(PortalDispute.objects.values_list("pk", "status"))
    assert statuses == {upheld.pk: "upheld", stands.pk: "debt_stands", still_open.pk: "open"}
    still_open.refresh_from_db()
    assert still_open.due_at == still_open.created_at + timedelta(days=30)


def test_erasure_removes_the_staff_notes_on_disputes_and_calls(clock, creditor, notices, isolated):
    from portal import privacy as portal_privacy

    dispute = dispute_of(creditor)
    portal.dispute_resolve(
        dispute=dispute, upheld=True, actor="a", note="Ada Lovelace sent her ID."
    )
    callback = callback_of(creditor, account=dispute.account)
    portal.callback_outcome_log(
        callback=callback, outcome="conversation", actor="a", note="Ada says she moved."
    )
    portal_privacy.debtor_erase(debtor=dispute.account.debtor, at=clock.now)
    dispute.refresh_from_db()
    callback.refresh_from_db()
    assert "Ada" not in dispute.resolution_note and "Ada" not in callback.outcome_note
