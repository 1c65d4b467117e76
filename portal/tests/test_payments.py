"""Paying from the portal: sandbox cards, double submits, authentication, Stripe, isolation."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from urllib.parse import unquote

import pytest
import stripe
from django.db import connection, connections
from django.test import Client

from accounts.models import Activity, ActivityKind, InstallmentStatus, Payment
from accounts.services import plan_create
from accounts.tests.factories import place, row
from portal import services
from portal.gateways.stripe_adapter import StripeGateway, to_minor_units
from portal.models import Checkout, CheckoutStatus
from portal.tests.conftest import (
    CARD_3DS,
    CARD_DECLINE,
    CARD_OK,
    OTHER_DOB,
    nonce_of,
    sign_in,
)

pytestmark = pytest.mark.django_db


def pay_form(client: Client, account, **params) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    page = client.get(f"/p/a/{account.pk}/pay/" + (f"?{query}" if query else ""))
    assert page.status_code == 200
    return nonce_of(page.content.decode())


def test_paying_in_full_with_the_success_card_marks_the_account_paid(debtor_client, account):
    nonce = pay_form(debtor_client, account)
    response = debtor_client.post(
        f"/p/a/{account.pk}/pay/", {"nonce": nonce, "purpose": "full", **CARD_OK}
    )
    checkout = Checkout.objects.get()
    assert response["Location"] == f"/p/pay/{checkout.pk}/"
    account.refresh_from_db()
    assert account.status == "paid" and account.current_balance == 0
    page = debtor_client.get(response["Location"]).content.decode()
    assert "your payment is received" in page
    receipt = debtor_client.get(f"/p/receipts/{checkout.payment_id}/")
    assert receipt.status_code == 200 and "$120.50" in receipt.content.decode()


def test_double_submit_of_the_pay_form_records_one_payment(debtor_client, account):
    nonce = pay_form(debtor_client, account)
    form = {"nonce": nonce, "purpose": "part", "amount": "20.00", **CARD_OK}
    first = debtor_client.post(f"/p/a/{account.pk}/pay/", form)
    second = debtor_client.post(f"/p/a/{account.pk}/pay/", form)
    assert first["Location"] == second["Location"]
    assert Payment.objects.count() == 1 and Checkout.objects.count() == 1
    account.refresh_from_db()
    assert account.current_balance == Decimal("100.50")
    assert Activity.objects.filter(kind=ActivityKind.PAYMENT).count() == 1


def test_declined_card_records_no_payment_and_says_so(debtor_client, account):
    nonce = pay_form(debtor_client, account)
    response = debtor_client.post(
        f"/p/a/{account.pk}/pay/", {"nonce": nonce, "purpose": "full", **CARD_DECLINE}
    )
    page = debtor_client.get(response["Location"]).content.decode()
    assert "declined" in page
    assert not Payment.objects.exists()
    assert Activity.objects.filter(
        data__event="payment_failed", data__code="card_declined"
    ).exists()


def test_authentication_card_pays_only_after_the_bank_step_is_confirmed(debtor_client, account):
    nonce = pay_form(debtor_client, account)
    response = debtor_client.post(
        f"/p/a/{account.pk}/pay/", {"nonce": nonce, "purpose": "full", **CARD_3DS}
    )
    checkout = Checkout.objects.get()
    assert response["Location"] == f"/p/pay/{checkout.pk}/authenticate/"
    assert checkout.status == CheckoutStatus.REQUIRES_ACTION and not Payment.objects.exists()
    debtor_client.post(response["Location"], {"approve": "1"})
    debtor_client.post(response["Location"], {"approve": "1"})  # a second click
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.SUCCEEDED and Payment.objects.count() == 1


def test_cancelling_the_bank_step_takes_no_payment(debtor_client, account):
    nonce = pay_form(debtor_client, account)
    response = debtor_client.post(
        f"/p/a/{account.pk}/pay/", {"nonce": nonce, "purpose": "full", **CARD_3DS}
    )
    debtor_client.post(response["Location"], {"cancel": "1"})
    assert Checkout.objects.get().status == CheckoutStatus.FAILED
    assert not Payment.objects.exists()


def test_part_payment_above_the_balance_is_refused(debtor_client, account):
    nonce = pay_form(debtor_client, account)
    response = debtor_client.post(
        f"/p/a/{account.pk}/pay/",
        {"nonce": nonce, "purpose": "part", "amount": "500.00", **CARD_OK},
    )
    assert response.status_code == 200 and "at most the balance" in response.content.decode()
    assert not Checkout.objects.exists()


def test_paying_the_next_instalment_reconciles_it(debtor_client, account):
    from django.utils import timezone

    plan = plan_create(
        account=account, frequency="monthly", count=3, first_due=timezone.localdate(), actor="t"
    )
    nonce = pay_form(debtor_client, account, purpose="instalment")
    debtor_client.post(
        f"/p/a/{account.pk}/pay/", {"nonce": nonce, "purpose": "instalment", **CARD_OK}
    )
    first = plan.installments.order_by("sequence").first()
    assert first.status == InstallmentStatus.PAID
    assert Payment.objects.get().amount == first.amount


def test_another_debtors_pages_answer_404(debtor_client, account, other_account):
    other = other_account
    for url in (
        f"/p/a/{other.pk}/pay/",
        f"/p/a/{other.pk}/plan/",
        f"/p/a/{other.pk}/settle/",
        f"/p/a/{other.pk}/pause/",
        f"/p/a/{other.pk}/dispute/",
    ):
        assert debtor_client.get(url).status_code == 404, url
    assert debtor_client.post(f"/p/a/{other.pk}/pay/", {"purpose": "full"}).status_code == 404
    # The other debtor's receipts and checkouts are invisible too.
    other_client = sign_in(Client(REMOTE_ADDR="10.1.1.1"), other.debtor_id, **OTHER_DOB)
    nonce = pay_form(other_client, other)
    other_client.post(f"/p/a/{other.pk}/pay/", {"nonce": nonce, "purpose": "full", **CARD_OK})
    checkout = Checkout.objects.get(account=other)
    assert debtor_client.get(f"/p/pay/{checkout.pk}/").status_code == 404
    assert debtor_client.get(f"/p/receipts/{checkout.payment_id}/").status_code == 404
    assert "ACC-2" not in debtor_client.get("/p/history/").content.decode()


def test_a_nonce_from_another_debtor_cannot_be_replayed(debtor_client, account, other_account):
    other_client = sign_in(Client(REMOTE_ADDR="10.1.1.2"), other_account.debtor_id, **OTHER_DOB)
    nonce = pay_form(other_client, other_account)
    other_client.post(
        f"/p/a/{other_account.pk}/pay/", {"nonce": nonce, "purpose": "full", **CARD_OK}
    )
    response = debtor_client.post(
        f"/p/a/{account.pk}/pay/", {"nonce": nonce, "purpose": "full", **CARD_OK}
    )
    assert response.status_code == 200 and "expired" in response.content.decode()
    account.refresh_from_db()
    assert account.current_balance == Decimal("120.50")


def test_a_portal_payment_is_attributed_as_a_conversion(
    debtor_client, account, monkeypatch, django_capture_on_commit_callbacks
):
    calls = []
    monkeypatch.setattr(services.conversion, "conversion_attribute", lambda **kw: calls.append(kw))
    nonce = pay_form(debtor_client, account)
    with django_capture_on_commit_callbacks(execute=True):
        debtor_client.post(
            f"/p/a/{account.pk}/pay/", {"nonce": nonce, "purpose": "full", **CARD_OK}
        )
    assert [(c["account"].pk, c["kind"]) for c in calls] == [(account.pk, "payment")]


def test_a_failing_conversion_attribution_never_undoes_the_payment(
    debtor_client, account, monkeypatch, django_capture_on_commit_callbacks
):
    def fail(**kwargs):
        raise RuntimeError("messaging is down")

    monkeypatch.setattr(services.conversion, "conversion_attribute", fail)
    nonce = pay_form(debtor_client, account)
    with django_capture_on_commit_callbacks(execute=True):
        debtor_client.post(
            f"/p/a/{account.pk}/pay/", {"nonce": nonce, "purpose": "full", **CARD_OK}
        )
    assert Payment.objects.count() == 1


# --- Stripe -----------------------------------------------------------------------------------

WEBHOOK_SECRET = "whsec_test_portal_secret"


class RecordingHTTPClient(stripe.HTTPClient):
    """Answers Stripe API calls with recorded bodies; never touches the network."""

    name = "recording"

    def __init__(self, answers: list[dict]) -> None:
        super().__init__()
        self.answers = answers
        self.requests: list[tuple[str, str, dict, str]] = []

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        self.requests.append((method, url, dict(headers or {}), post_data or ""))
        answer = self.answers.pop(0)
        body, status = answer if isinstance(answer, tuple) else (answer, 200)
        return json.dumps(body), status, {}

    def close(self) -> None:
        pass


def _intent(status: str, **extra) -> dict:
    return {
        "id": "pi_3Test123",
        "object": "payment_intent",
        "amount": 12050,
        "currency": "usd",
        "status": status,
        "metadata": {},
        **extra,
    }


def test_stripe_charge_creates_a_payment_intent_with_our_idempotency_key(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    http = RecordingHTTPClient([_intent("succeeded")])
    from portal.gateways import CardInput

    result = StripeGateway(http_client=http).charge(
        amount=Decimal("120.50"),
        currency="USD",
        idempotency_key="portal-abc",
        card=CardInput(payment_method="pm_card_visa"),
        description="Acme ACC-1",
        metadata={"checkout_id": "abc"},
        return_url="https://collect.example.com/p/pay/abc/return/",
    )
    assert result.status == "succeeded" and result.provider_ref == "pi_3Test123"
    method, url, headers, body = http.requests[0]
    assert method == "post" and url.endswith("/v1/payment_intents")
    assert headers["Idempotency-Key"] == "portal-abc"
    assert "amount=12050" in body and "currency=usd" in body and "confirm=true" in body


def test_stripe_intent_needing_3ds_returns_the_redirect(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    redirect = {
        "type": "redirect_to_url",
        "redirect_to_url": {"url": "https://hooks.stripe.com/3ds"},
    }
    http = RecordingHTTPClient([_intent("requires_action", next_action=redirect)])
    from portal.gateways import CardInput

    result = StripeGateway(http_client=http).charge(
        amount=Decimal("5"), currency="USD", idempotency_key="k", description="d",
        card=CardInput(payment_method="pm_card_authenticationRequired"), metadata={},
        return_url="https://x/",
    )  # fmt: skip
    assert result.status == "requires_action"
    assert result.action_url == "https://hooks.stripe.com/3ds"


def test_a_stripe_decline_is_an_answer_and_a_refusal_is_a_gateway_error(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    declined = {"error": {
        "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
        "payment_intent": _intent("requires_payment_method"),
    }}  # fmt: skip
    refused = {"error": {"type": "invalid_request_error", "message": "No such thing."}}
    gateway = StripeGateway(
        http_client=RecordingHTTPClient([(declined, 402), (refused, 400), (refused, 400),
                                         (refused, 400)])
    )  # fmt: skip
    from portal.gateways import CardInput, GatewayError

    charge = {"amount": Decimal("5"), "currency": "USD", "idempotency_key": "k",
              "description": "d", "metadata": {}, "return_url": "https://x/"}  # fmt: skip
    result = gateway.charge(card=CardInput(payment_method="pm_card_chargeDeclined"), **charge)
    assert (result.status, result.provider_ref, result.failure_code) == (
        "failed", "pi_3Test123", "insufficient_funds",
    )  # fmt: skip
    with pytest.raises(GatewayError, match="InvalidRequestError"):
        gateway.charge(card=CardInput(payment_method="pm_card_visa"), **charge)
    with pytest.raises(GatewayError, match="InvalidRequestError"):
        gateway.charge(card=CardInput(), **charge)  # the hosted page's session
    with pytest.raises(GatewayError, match="InvalidRequestError"):
        gateway.retrieve(provider_ref="cs_test_a1")


def test_minor_units_follow_the_currency():
    assert to_minor_units(Decimal("120.50"), "USD") == 12050
    assert to_minor_units(Decimal("500"), "JPY") == 500
    assert to_minor_units(Decimal("1.234"), "KWD") == 1234


def _signed(event: dict, secret: str = WEBHOOK_SECRET) -> tuple[bytes, str]:
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, int(time.time()))
    return payload.encode(), header


def _stripe_checkout(account, debtor_client) -> Checkout:
    return Checkout.objects.create(
        debtor=account.debtor,
        account=account,
        purpose="full",
        amount=account.balance,
        currency="USD",
        nonce="stripe-nonce-0123456789",
        gateway="stripe",
        provider_ref="pi_3Test123",
        status=CheckoutStatus.REQUIRES_ACTION,
    )


# A payment_intent.succeeded event as Stripe sends it (trimmed to the fields we read).
RECORDED_SUCCEEDED = {
    "id": "evt_3Test123",
    "object": "event",
    "api_version": "2024-06-20",
    "type": "payment_intent.succeeded",
    "created": 1767225600,
    "livemode": False,
    "data": {"object": _intent("succeeded", metadata={"checkout_id": "set-in-test"})},
}


def test_signed_stripe_webhook_records_the_payment_once_however_often_replayed(
    client, account, settings
):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    checkout = _stripe_checkout(account, client)
    event = json.loads(json.dumps(RECORDED_SUCCEEDED))
    event["data"]["object"]["metadata"]["checkout_id"] = str(checkout.pk)
    for _ in range(3):
        payload, header = _signed(event)
        response = client.post(
            "/p/webhooks/stripe/", payload, content_type="application/json",
            HTTP_STRIPE_SIGNATURE=header,
        )  # fmt: skip
        assert response.status_code == 200
    assert Payment.objects.count() == 1
    payment = Payment.objects.get()
    assert payment.idempotency_key == "stripe:pi_3Test123" and payment.provider == "stripe"
    account.refresh_from_db()
    assert account.status == "paid"


def test_stripe_webhook_found_by_metadata_when_the_reference_was_never_stored(
    client, account, settings
):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    checkout = _stripe_checkout(account, client)
    Checkout.objects.filter(pk=checkout.pk).update(provider_ref="")
    event = json.loads(json.dumps(RECORDED_SUCCEEDED))
    event["data"]["object"]["metadata"]["checkout_id"] = str(checkout.pk)
    payload, header = _signed(event)
    client.post("/p/webhooks/stripe/", payload, content_type="application/json",
                HTTP_STRIPE_SIGNATURE=header)  # fmt: skip
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.SUCCEEDED and checkout.provider_ref == "pi_3Test123"


def test_stripe_webhook_with_a_bad_signature_is_refused_and_changes_nothing(
    client, account, settings
):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    _stripe_checkout(account, client)
    payload, header = _signed(RECORDED_SUCCEEDED, secret="whsec_someone_else")
    response = client.post(
        "/p/webhooks/stripe/", payload, content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )  # fmt: skip
    assert response.status_code == 400
    unsigned = client.post("/p/webhooks/stripe/", payload, content_type="application/json")
    assert unsigned.status_code == 400
    assert not Payment.objects.exists()


SESSION_URL = "https://checkout.stripe.com/c/pay/cs_test_a1"


def _session(status: str, **extra) -> dict:
    """A Checkout Session as Stripe answers it (trimmed to the fields we read)."""
    return {
        "id": "cs_test_a1",
        "object": "checkout.session",
        "status": status,
        "payment_status": "paid" if status == "complete" else "unpaid",
        "url": SESSION_URL if status == "open" else None,
        "payment_intent": None,
        "metadata": {},
        **extra,
    }


def _stripe_answers(settings, monkeypatch, answers: list[dict]) -> RecordingHTTPClient:
    """The portal on Stripe, every gateway it builds answered from `answers`."""
    settings.PORTAL_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    http = RecordingHTTPClient(answers)
    built = StripeGateway.__init__
    monkeypatch.setattr(
        StripeGateway, "__init__", lambda self, http_client=None: built(self, http_client=http)
    )
    return http


def test_stripe_card_entry_is_the_hosted_page_and_return_and_webhook_record_once(
    client, account, settings, monkeypatch
):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    http = _stripe_answers(settings, monkeypatch, [_session("open")])
    sign_in(client, account.debtor_id)
    page = client.get(f"/p/a/{account.pk}/pay/").content.decode()
    assert 'name="card_number"' not in page and "payment provider's secure page" in page
    response = client.post(f"/p/a/{account.pk}/pay/", {"nonce": nonce_of(page), "purpose": "full"})
    assert response.status_code == 302 and response["Location"] == SESSION_URL
    checkout = Checkout.objects.get()
    assert checkout.provider_ref == "cs_test_a1"
    assert checkout.status == CheckoutStatus.REQUIRES_ACTION
    method, url, headers, body = http.requests[0]
    assert method == "post" and url.endswith("/v1/checkout/sessions")
    assert headers["Idempotency-Key"].startswith("portal-")
    sent = unquote(body)
    assert "line_items[0][price_data][unit_amount]=12050" in sent and "mode=payment" in sent
    assert f"payment_intent_data[metadata][checkout_id]={checkout.pk}" in sent
    assert f"success_url={settings.SITE_URL}/p/pay/{checkout.pk}/return/" in sent
    # Paid on Stripe's page: the return reads the session and records under the intent's id.
    paid = _intent("succeeded", metadata={"checkout_id": str(checkout.pk)})
    http.answers.append(_session("complete", payment_intent=paid))
    assert client.get(f"/p/pay/{checkout.pk}/return/").status_code == 302
    assert "expand[0]=payment_intent" in unquote(http.requests[1][1])
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.SUCCEEDED and checkout.provider_ref == "pi_3Test123"
    # Stripe's webhook for the same payment, then a replay: nothing more is recorded.
    event = json.loads(json.dumps(RECORDED_SUCCEEDED))
    event["data"]["object"]["metadata"]["checkout_id"] = str(checkout.pk)
    for _ in range(2):
        payload, header = _signed(event)
        client.post("/p/webhooks/stripe/", payload, content_type="application/json",
                    HTTP_STRIPE_SIGNATURE=header)  # fmt: skip
    payment = Payment.objects.get()
    assert payment.idempotency_key == "stripe:pi_3Test123" and payment.amount == Decimal("120.50")
    account.refresh_from_db()
    assert account.status == "paid"


def test_back_from_an_unpaid_session_the_debtor_can_go_on_or_sees_it_expired(
    client, account, settings, monkeypatch
):
    _stripe_answers(settings, monkeypatch, [_session("open"), _session("expired")])
    sign_in(client, account.debtor_id)
    checkout = _stripe_checkout(account, client)
    Checkout.objects.filter(pk=checkout.pk).update(provider_ref="cs_test_a1")
    page = client.get(f"/p/pay/{checkout.pk}/return/", follow=True).content.decode()
    assert "Continue to the payment page" in page and f'href="{SESSION_URL}"' in page
    page = client.get(f"/p/pay/{checkout.pk}/return/", follow=True).content.decode()
    assert "The payment page expired before the payment was made." in page
    assert not Payment.objects.exists()


def test_a_session_left_open_is_offered_again_and_an_expired_one_fails(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    gateway = StripeGateway(
        http_client=RecordingHTTPClient([_session("open"), _session("expired")])
    )
    again = gateway.retrieve(provider_ref="cs_test_a1")
    assert (again.status, again.provider_ref, again.action_url) == (
        "requires_action", "cs_test_a1", SESSION_URL,
    )  # fmt: skip
    expired = gateway.retrieve(provider_ref="cs_test_a1")
    assert (expired.status, expired.failure_code) == ("failed", "expired")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_posts_of_one_pay_form_record_the_payment_once(creditor):
    """A double click: two connections post the same form (same session, same nonce) at once;
    both land on the same checkout and exactly one payment is recorded."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL")
    (account,) = place(creditor, row(1))
    browser = sign_in(Client(), account.debtor_id)
    nonce = pay_form(browser, account)
    form = {"nonce": nonce, "purpose": "part", "amount": "20.00", **CARD_OK}
    barrier = threading.Barrier(2)
    locations: list[str] = []
    failures: list[BaseException] = []

    def click() -> None:
        try:
            tab = Client()
            tab.cookies = browser.cookies  # the same browser: one session, one CSRF cookie
            barrier.wait()
            response = tab.post(f"/p/a/{account.pk}/pay/", form)
            assert response.status_code == 302, response.status_code
            locations.append(response["Location"])
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    (checkout,) = Checkout.objects.all()
    assert locations == [f"/p/pay/{checkout.pk}/"] * 2
    assert Payment.objects.filter(account=account).count() == 1
    account.refresh_from_db()
    assert account.current_balance == Decimal("100.50")
    assert Activity.objects.filter(kind=ActivityKind.PAYMENT, account=account).count() == 1
