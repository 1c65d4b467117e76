"""What the portal tells creditors through their webhooks: a card payment that failed
(`payment.failed`, once per attempt), a dispute raised and resolved (`dispute.opened`,
`dispute.resolved` with the dispute), and a breathing space that ran out (`pause.ended`,
from the hourly job that ends pauses)."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import stripe
import time_machine
from django.core.management import call_command
from django.db import connection, connections, transaction
from django_q.models import Schedule

from accounts import services as accounts
from accounts.models import Account, Activity, ActivityKind, PaymentPlan
from accounts.tests.factories import place, row
from accounts.webhooks import services as webhooks
from accounts.webhooks.models import WebhookDelivery, WebhookEvent
from portal import services
from portal.gateways import FAILURE_REASONS, ChargeResult, ChargeStatus, failure_category
from portal.models import Checkout, CheckoutStatus, PortalDispute
from portal.tests.conftest import CARD_DECLINE, nonce_of

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "whsec_test_portal_secret"
BOSTON = ZoneInfo("America/New_York")  # the zone of factories.row's US-MA debtors


def _events(kind: str) -> list[WebhookEvent]:
    return list(WebhookEvent.objects.filter(type=kind).order_by("created_at", "id"))


def _endpoint(settings, creditor, *types: str):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    return webhooks.endpoint_create(
        creditor=creditor, url="http://127.0.0.1:9/hooks", event_types=list(types)
    )


# --- payment.failed ---------------------------------------------------------------------------


def test_a_declined_card_in_the_portal_sends_payment_failed_with_the_attempt(
    debtor_client, account, creditor, other_creditor, settings
):
    mine = _endpoint(settings, creditor, "payment.failed")
    theirs = _endpoint(settings, other_creditor)
    page = debtor_client.get(f"/p/a/{account.pk}/pay/").content.decode()
    debtor_client.post(
        f"/p/a/{account.pk}/pay/",
        {"nonce": nonce_of(page), "purpose": "part", "amount": "20.00", **CARD_DECLINE},
    )
    checkout = Checkout.objects.get()
    assert checkout.status == CheckoutStatus.FAILED
    (event,) = _events("payment.failed")
    assert event.creditor_id == creditor.pk
    assert event.data == {
        "object": {
            "id": str(checkout.pk),
            "account": "ACC-1",
            "status": "failed",
            "amount": "20.00",
            "currency": "USD",
            "purpose": "part",
            "method": "card",
            "provider": "sandbox",
            "provider_reference": checkout.provider_ref,
            "failure_code": "card_declined",
            "failure_reason": "The card issuer declined the payment.",
            "created_at": checkout.created_at.isoformat().replace("+00:00", "Z"),
            "failed_at": checkout.updated_at.isoformat().replace("+00:00", "Z"),
        }
    }
    # The outbox row was written with the failure, for the subscribed endpoint only.
    assert list(WebhookDelivery.objects.values_list("endpoint_id", "event_id")) == [
        (mine.pk, event.pk)
    ]
    assert not WebhookDelivery.objects.filter(endpoint=theirs).exists()
    sent = json.dumps(event.data)
    for personal in ("Ada", "Lovelace", "ada1@example.com", "4000000000000002", "02101"):
        assert personal not in sent


def _signed(event: dict) -> tuple[bytes, str]:
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(
        payload, WEBHOOK_SECRET, int(time.time())
    )
    return payload.encode(), header


def _stripe_checkout(account) -> Checkout:
    return Checkout.objects.create(
        debtor=account.debtor, account=account, purpose="full", amount=account.balance,
        currency="USD", nonce="stripe-nonce-0123456789", gateway="stripe",
        provider_ref="pi_3Test123", status=CheckoutStatus.REQUIRES_ACTION,
    )  # fmt: skip


def _intent_failed(checkout: Checkout) -> dict:
    """Stripe's `payment_intent.payment_failed` (trimmed to the fields the portal reads)."""
    return {
        "id": "evt_3Failed1", "object": "event", "api_version": "2024-06-20",
        "type": "payment_intent.payment_failed", "created": 1767225600, "livemode": False,
        "data": {"object": {
            "id": "pi_3Test123", "object": "payment_intent", "amount": 12050, "currency": "usd",
            "status": "requires_payment_method",
            "metadata": {"checkout_id": str(checkout.pk)},
            "last_payment_error": {
                "type": "card_error", "code": "card_declined",
                "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds.",
            },
        }},
    }  # fmt: skip


def test_stripes_failure_webhook_retried_sends_payment_failed_once_without_the_issuers_detail(
    client, account, settings
):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    checkout = _stripe_checkout(account)
    for _ in range(3):  # Stripe retries a webhook until it is answered, and may repeat it
        payload, header = _signed(_intent_failed(checkout))
        response = client.post(
            "/p/webhooks/stripe/", payload, content_type="application/json",
            HTTP_STRIPE_SIGNATURE=header,
        )  # fmt: skip
        assert response.status_code == 200
    checkout.refresh_from_db()
    # The provider's own code stays with the checkout, for the debtor's page and operators.
    assert checkout.status == CheckoutStatus.FAILED
    assert checkout.failure_code == "insufficient_funds"
    (event,) = _events("payment.failed")
    attempt = event.data["object"]
    assert attempt["failure_code"] == "card_declined" and attempt["amount"] == "120.50"
    assert attempt["provider"] == "stripe" and attempt["provider_reference"] == "pi_3Test123"
    assert "insufficient" not in json.dumps(event.data)
    assert Activity.objects.filter(data__event="payment_failed").count() == 1


def test_a_failure_that_rolls_back_sends_nothing(account):
    checkout = _stripe_checkout(account)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.checkout_apply(
            checkout=checkout,
            result=ChargeResult(ChargeStatus.FAILED, "pi_3Test123", failure_code="card_declined"),
        )
        assert len(_events("payment.failed")) == 1
        raise RuntimeError("the caller's transaction fails after the failure was recorded")
    assert _events("payment.failed") == []
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.REQUIRES_ACTION


def test_money_taken_for_an_account_paid_meanwhile_is_a_failure_to_refund(account):
    checkout = _stripe_checkout(account)
    accounts.payment_record(
        account=account, amount=account.balance, idempotency_key="bank", method="bank_transfer",
        actor="t",
    )  # fmt: skip
    services.checkout_apply(
        checkout=checkout, result=ChargeResult(ChargeStatus.SUCCEEDED, "pi_3Test123")
    )
    (event,) = _events("payment.failed")
    assert event.data["object"]["failure_code"] == "not_applied"
    assert "refunded" in event.data["object"]["failure_reason"]
    assert len(_events("payment.succeeded")) == 1  # the bank transfer only


@pytest.mark.parametrize(
    ("code", "category"),
    [
        ("card_declined", "card_declined"),
        ("insufficient_funds", "card_declined"),
        ("stolen_card", "card_declined"),
        ("requires_payment_method", "card_declined"),
        ("expired_card", "card_invalid"),
        ("invalid_number", "card_invalid"),
        ("authentication_failed", "authentication_failed"),
        ("expired", "abandoned"),
        ("canceled", "abandoned"),
        ("provider_unavailable", "provider_error"),
        ("not_recorded_refund_due", "not_applied"),
    ],
)
def test_provider_codes_fold_into_the_categories_creditors_are_told(code, category):
    assert failure_category(code) == category
    assert category in FAILURE_REASONS


def test_the_documented_failure_codes_are_the_categories():
    from accounts.webhooks.serializers import PaymentAttemptOutput

    documented = PaymentAttemptOutput().fields["failure_code"].help_text
    for category in FAILURE_REASONS:
        assert f"`{category}`" in documented


# --- dispute.opened / dispute.resolved --------------------------------------------------------


def test_raising_a_dispute_sends_dispute_opened_with_the_dispute_not_what_the_debtor_wrote(
    debtor_client, account
):
    debtor_client.post(
        f"/p/a/{account.pk}/dispute/",
        {"reason": "paid", "details": "My doctor's bill took everything; I paid in May."},
    )
    dispute = PortalDispute.objects.get()
    (opened,) = _events("dispute.opened")
    assert opened.data == {
        "object": {
            "id": dispute.pk,
            "account": "ACC-1",
            "status": "open",
            "reason": "paid",
            "opened_at": dispute.created_at.isoformat().replace("+00:00", "Z"),
            "respond_by": dispute.due_at.isoformat().replace("+00:00", "Z"),
            "resolved_at": None,
        }
    }
    assert "doctor" not in json.dumps(opened.data)
    changed = _events("account.status_changed")[-1]
    assert changed.data["dispute_id"] == dispute.pk
    assert changed.data["object"]["status"] == "disputed"


@pytest.mark.parametrize(("upheld", "status", "account_status"), [
    (True, "upheld", "closed"),
    (False, "debt_stands", "active"),
])  # fmt: skip
def test_resolving_a_dispute_sends_dispute_resolved_with_its_outcome(
    account, upheld, status, account_status
):
    dispute = services.dispute_raise(account=account, reason="not_mine", details="Not me.")
    services.dispute_resolve(
        dispute=dispute, upheld=upheld, actor="admin:1", note="Checked the signed contract."
    )
    dispute.refresh_from_db()
    (resolved,) = _events("dispute.resolved")
    assert resolved.data["object"] == {
        "id": dispute.pk,
        "account": "ACC-1",
        "status": status,
        "reason": "not_mine",
        "opened_at": dispute.created_at.isoformat().replace("+00:00", "Z"),
        "respond_by": dispute.due_at.isoformat().replace("+00:00", "Z"),
        "resolved_at": dispute.resolved_at.isoformat().replace("+00:00", "Z"),
    }
    assert "contract" not in json.dumps(resolved.data) and "admin" not in json.dumps(resolved.data)
    changed = _events("account.status_changed")[-1]
    assert changed.data["object"]["status"] == account_status
    assert changed.data["previous_status"] == "disputed"
    assert changed.data["dispute_id"] == dispute.pk
    assert changed.created_at < resolved.created_at  # the account's move, then the dispute


def test_a_dispute_resolved_after_the_creditor_recalled_the_account_is_still_reported(account):
    dispute = services.dispute_raise(account=account, reason="amount")
    accounts.account_recall(account=account, actor="api")
    services.dispute_resolve(dispute=dispute, upheld=False, actor="admin:1")
    (resolved,) = _events("dispute.resolved")
    assert resolved.data["object"]["status"] == "debt_stands"
    assert Account.objects.get(pk=account.pk).status == "recalled"


def test_a_dispute_rolled_back_with_its_transaction_sends_nothing(account):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.dispute_raise(account=account, reason="amount")
        raise RuntimeError("fails after the dispute")
    assert _events("dispute.opened") == [] and not PortalDispute.objects.exists()


# --- pause.ended: the hourly job ---------------------------------------------------------------


def _boston(day: datetime, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BOSTON)


def _paused(account, *, days: int, at: datetime):
    with time_machine.travel(at, tick=False):
        services.pause_request(account=account, reason="illness", days=days)
    account.refresh_from_db()
    return account


def test_a_pause_ends_once_its_last_day_is_over_on_the_debtors_calendar(account):
    start = _boston(datetime(2027, 3, 1), 10)
    account = _paused(account, days=3, at=start)
    assert str(account.paused_until) == "2027-03-04"
    # 23:30 on the last day in Boston is already the next day in UTC: still paused.
    last_evening = _boston(datetime(2027, 3, 4), 23, 30)
    assert last_evening.astimezone(UTC).date().isoformat() == "2027-03-05"
    with time_machine.travel(last_evening, tick=False):
        assert services.pauses_end_expired() == 0
    assert Account.objects.get(pk=account.pk).status == "paused"
    with time_machine.travel(_boston(datetime(2027, 3, 5), 0, 30), tick=False):
        assert services.pauses_end_expired() == 1
        assert services.pauses_end_expired() == 0  # idempotent: the next run finds nothing
    account.refresh_from_db()
    assert account.status == "active" and account.paused_until is None
    entry = Activity.objects.filter(kind=ActivityKind.STATUS_CHANGED).latest("occurred_at")
    assert entry.data == {
        "from": "paused", "to": "active", "event": "pause_ended", "paused_until": "2027-03-04"
    }  # fmt: skip
    assert entry.actor == "system"
    (ended,) = _events("pause.ended")
    assert ended.data["previous_status"] == "paused"
    assert ended.data["paused_until"] == "2027-03-04"
    assert ended.data["object"]["status"] == "active"
    changed = _events("account.status_changed")[-1]
    assert changed.data == ended.data  # one change, both events


def test_a_pause_over_a_plan_ends_back_in_the_plan(account):
    start = _boston(datetime(2027, 3, 1), 10)
    with time_machine.travel(start, tick=False):
        accounts.plan_create(
            account=account, frequency="monthly", count=3, first_due=start.date(), actor="t"
        )
    account = _paused(account, days=2, at=start)
    with time_machine.travel(_boston(datetime(2027, 3, 4), 9), tick=False):
        assert services.pauses_end_expired() == 1
    assert Account.objects.get(pk=account.pk).status == "in_plan"
    assert PaymentPlan.objects.get().status == "active"


def test_an_account_paused_without_an_end_date_is_left_alone(account):
    accounts.account_transition(account=account, status="paused", actor="api")
    assert services.pauses_end_expired(now=datetime(2099, 1, 1, tzinfo=UTC)) == 0
    assert Account.objects.get(pk=account.pk).status == "paused"


def test_a_pause_ended_by_the_job_rolls_back_with_its_timeline_entry(account, monkeypatch):
    start = _boston(datetime(2027, 3, 1), 10)
    _paused(account, days=1, at=start)

    def refused(self, *args, **kwargs):
        raise RuntimeError("timeline unavailable")

    later = datetime(2027, 3, 10, 12, tzinfo=UTC)
    with monkeypatch.context() as patch:
        patch.setattr(Activity, "save", refused)
        with pytest.raises(RuntimeError):
            services.pauses_end_expired(now=later)
    assert Account.objects.get(pk=account.pk).status == "paused"
    assert _events("pause.ended") == []
    assert services.pauses_end_expired(now=later) == 1


def test_the_hourly_schedule_and_the_command(account, capsys):
    (schedule,) = Schedule.objects.filter(name="portal.pauses_end")
    assert (schedule.func, schedule.schedule_type) == ("portal.tasks.pauses_end", Schedule.HOURLY)
    _paused(account, days=1, at=_boston(datetime(2027, 3, 1), 10))
    with time_machine.travel(_boston(datetime(2027, 3, 3), 10), tick=False):
        call_command("pauses_end")
    assert capsys.readouterr().out.strip() == "1 pauses ended."
    assert Account.objects.get(pk=account.pk).status == "active"


def _concurrent_only():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_end_each_pause_once(creditor):
    _concurrent_only()
    placed = place(creditor, *(row(n) for n in range(1, 7)))
    for account in placed:
        _paused(account, days=1, at=_boston(datetime(2027, 3, 1), 10))
    later = datetime(2027, 3, 10, 12, tzinfo=UTC)
    barrier = threading.Barrier(2)
    counts: list[int] = []
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            counts.append(services.pauses_end_expired(now=later))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    assert sum(counts) == 6
    assert not Account.objects.filter(status="paused").exists()
    ended = WebhookEvent.objects.filter(type="pause.ended")
    assert sorted(ended.values_list("data__object__external_ref", flat=True)) == sorted(
        a.external_ref for a in placed
    )
    assert Activity.objects.filter(data__event="pause_ended").count() == 6


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_account_another_transaction_holds_is_left_for_the_next_run(creditor):
    _concurrent_only()
    (account,) = place(creditor, row(1))
    _paused(account, days=1, at=_boston(datetime(2027, 3, 1), 10))
    later = datetime(2027, 3, 10, 12, tzinfo=UTC)
    locked, release = threading.Event(), threading.Event()

    def holder() -> None:
        try:
            with transaction.atomic():
                Account.objects.select_for_update().get(pk=account.pk)
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        assert services.pauses_end_expired(now=later) == 0  # skipped, not waited for
        assert time.monotonic() - started < 5
    finally:
        release.set()
        thread.join()
    assert services.pauses_end_expired(now=later) == 1
    assert WebhookEvent.objects.filter(type="pause.ended").count() == 1


def test_money_is_decimal_in_the_attempt(account):
    """The attempt's amount is the currency's decimal string, as everywhere in the API."""
    checkout = _stripe_checkout(account)
    Checkout.objects.filter(pk=checkout.pk).update(amount=Decimal("7.5"))
    services.checkout_apply(
        checkout=checkout,
        result=ChargeResult(ChargeStatus.FAILED, "pi_3Test123", failure_code="expired"),
    )
    (event,) = _events("payment.failed")
    assert event.data["object"]["amount"] == "7.50"
    assert event.data["object"]["failure_code"] == "abandoned"


# --- docs/webhooks.md prints what is sent -----------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def _documented(marker: str) -> dict:
    """The JSON example of docs/webhooks.md that holds `marker`."""
    blocks = re.findall(r"```json\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    (block,) = [b for b in blocks if marker in b]
    return json.loads(block)


def _keys(value) -> object:
    """The shape of a JSON value: its keys, all the way down (jsonb keeps no key order)."""
    if isinstance(value, dict):
        return {key: _keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_keys(value[0])] if value else []
    return None


def test_the_documented_examples_have_the_shape_of_what_is_sent(debtor_client, account):
    services.dispute_raise(account=account, reason="paid")
    dispute = PortalDispute.objects.get()
    services.dispute_resolve(dispute=dispute, upheld=False, actor="admin:1")
    (resolved,) = _events("dispute.resolved")
    assert _keys(_documented('"respond_by"')) == _keys(resolved.data["object"])
    checkout = _stripe_checkout(account)
    services.checkout_apply(
        checkout=checkout,
        result=ChargeResult(ChargeStatus.FAILED, "pi_3Test123", failure_code="card_declined"),
    )
    (failed,) = _events("payment.failed")
    assert _keys(_documented('"failure_code"')) == _keys(failed.data["object"])
    assert _documented('"failure_code"')["failure_reason"] == FAILURE_REASONS["card_declined"]
    _paused(account, days=1, at=_boston(datetime(2027, 3, 1), 10))
    services.pauses_end_expired(now=datetime(2027, 3, 10, 12, tzinfo=UTC))
    (ended,) = _events("pause.ended")
    assert _keys(_documented('"paused_until": "2026-12-04"')) == _keys(ended.data)
    for category, reason in FAILURE_REASONS.items():  # the table of failure codes
        assert f"| `{category}` | {reason} |" in DOCS.read_text()
