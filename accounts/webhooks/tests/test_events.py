"""Each service of `accounts.services` records its events in its own transaction (the
outbox): with the change, or not at all."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from accounts import services
from accounts.models import AccountStatus, PlanFrequency
from accounts.tests.factories import place, row
from accounts.webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db


def _types(since=None) -> list[str]:
    qs = WebhookEvent.objects.order_by("created_at", "id")
    if since is not None:
        qs = qs.filter(created_at__gt=since)
    return list(qs.values_list("type", flat=True))


def _mark():
    last = WebhookEvent.objects.order_by("-created_at").first()
    return last.created_at if last else None


def _pay(account, amount, key):
    return services.payment_record(
        account=account, amount=Decimal(amount), idempotency_key=key, method="card", actor="t"
    )


def test_placement_payment_plan_and_paying_off(creditor):
    (account,) = place(creditor, row(1, original_amount="100.00"))
    assert _types() == ["account.placed"]
    placed = WebhookEvent.objects.get()
    assert placed.data["object"]["external_ref"] == "ACC-1"
    assert placed.data["object"]["current_balance"] == "100.00"
    mark = _mark()
    plan = services.plan_create(
        account=account, frequency=PlanFrequency.MONTHLY, count=2,
        first_due=timezone.localdate() + timedelta(days=3), actor="t",
    )  # fmt: skip
    assert _types(mark) == ["plan.created", "account.status_changed"]
    created = WebhookEvent.objects.get(type="plan.created").data["object"]
    assert created["id"] == plan.pk and len(created["instalments"]) == 2
    assert created["total_amount"] == "100.00"
    mark = _mark()
    _pay(account, "40", "a")
    assert _types(mark) == ["payment.succeeded"]
    mark = _mark()
    _pay(account, "60", "b")
    assert _types(mark) == [
        "plan.completed",
        "payment.succeeded",
        "account.status_changed",
        "account.paid",
    ]
    paid = WebhookEvent.objects.get(type="account.paid").data
    assert paid["previous_status"] == "in_plan" and paid["object"]["status"] == "paid"


def test_recall_pause_dispute_and_resolution(creditor):
    first, second = place(creditor, row(1), row(2))
    mark = _mark()
    services.account_recall(account=first, actor="t")
    assert _types(mark) == ["account.status_changed", "account.recalled"]
    mark = _mark()
    until = timezone.localdate() + timedelta(days=10)
    services.account_pause(account=second, days=10, until=until, actor="t", data={})
    assert _types(mark) == ["account.status_changed", "pause.started"]
    assert WebhookEvent.objects.get(type="pause.started").data["paused_until"] == str(until)
    mark = _mark()
    services.account_dispute(account=second, actor="t", summary="x", data={"dispute_id": 7})
    # The dispute events report the portal's dispute itself (portal/tests/test_webhook_events):
    # the account's move into and out of `disputed` is a status change like any other.
    assert _types(mark) == ["account.status_changed", "pause.ended"]
    changed = WebhookEvent.objects.filter(type="account.status_changed").last().data
    assert changed["dispute_id"] == 7 and changed["object"]["status"] == "disputed"
    assert WebhookEvent.objects.get(type="pause.ended").data["previous_status"] == "paused"
    mark = _mark()
    services.account_transition(account=second, status=AccountStatus.ACTIVE, actor="t")
    assert _types(mark) == ["account.status_changed"]
    back = WebhookEvent.objects.filter(type="account.status_changed").last().data
    assert back["object"]["status"] == "active" and back["previous_status"] == "disputed"
    assert "dispute_id" not in back


def test_missed_instalments_and_a_broken_plan(creditor):
    (account,) = place(creditor, row(1, original_amount="100.00"))
    plan = services.plan_create(
        account=account, frequency=PlanFrequency.WEEKLY, count=2,
        first_due=timezone.localdate(), actor="t",
    )  # fmt: skip
    later = timezone.localdate() + timedelta(days=1)
    mark = _mark()
    assert services.installments_miss(
        plan_id=plan.pk, cutoff=later, pause_end=None, actor="t", data={}
    )
    assert _types(mark) == ["plan.instalment_missed"]
    missed = WebhookEvent.objects.get(type="plan.instalment_missed").data["object"]
    assert missed["instalments"][0]["status"] == "missed"
    mark = _mark()
    assert services.plan_break(plan_id=plan.pk, cutoff=later, actor="t", data={})
    assert _types(mark) == ["plan.broken", "account.status_changed"]
    assert WebhookEvent.objects.get(type="plan.broken").data["object"]["status"] == "broken"


def test_contact_preferences_and_opt_outs(creditor):
    (account,) = place(creditor, row(1))
    debtor = account.debtor
    mark = _mark()
    services.debtor_preferences_set(
        debtor=debtor, preferred_channel="email", hours=(time(9), time(17)),
        opted_out=["sms"], channels=["email", "sms"], actor="t", where="in the portal",
    )  # fmt: skip
    services.debtor_opt_in(debtor=debtor, channel="sms", actor="t", summary="START")
    assert _types(mark) == ["debtor.contact_preferences_changed"] * 2
    first = WebhookEvent.objects.filter(type="debtor.contact_preferences_changed").first()
    assert first.data["object"] == {
        "external_ref": "D-1",
        "flags": ["opted_out_sms"],
        "opted_out": ["sms"],
        "preferred_channel": "email",
        "preferred_hours_start": "09:00:00",
        "preferred_hours_end": "17:00:00",
    }


def test_a_change_that_rolls_back_leaves_no_event(creditor):
    (account,) = place(creditor, row(1, original_amount="50.00"))
    mark = _mark()
    with pytest.raises(services.PaymentRefused):
        _pay(account, "60", "too-much")
    with pytest.raises(RuntimeError), transaction.atomic():
        _pay(account, "10", "rolled-back")
        assert _types(mark) == ["payment.succeeded"]
        raise RuntimeError("the caller's transaction fails after the payment")
    assert _types(mark) == []


def test_without_endpoints_an_event_costs_a_query_and_an_insert_and_no_delivery(
    creditor, django_assert_num_queries
):
    from accounts.webhooks.events import webhook_event_record
    from accounts.webhooks.models import WebhookDelivery

    (account,) = place(creditor, row(1))
    with django_assert_num_queries(2):  # the event's insert, the endpoints' select
        webhook_event_record(creditor_id=creditor.pk, type="account.paid", obj=account)
    assert WebhookDelivery.objects.count() == 0
    assert WebhookEvent.objects.filter(type="account.paid").count() == 1
