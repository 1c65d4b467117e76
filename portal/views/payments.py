"""Card payments: the pay form, the checkout pages, the provider webhook, settlements."""

from __future__ import annotations

import logging
import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import (
    Account,
)
from accounts.money import format_money
from accounts.selectors import instalment_next
from portal import selectors, services
from portal.access import portal_page
from portal.formatting import date_format
from portal.forms import (
    PayForm,
    SettleForm,
    nonce_new,
)
from portal.gateways import CardInput, GatewayError, gateway_get
from portal.models import CheckoutPurpose, CheckoutStatus
from portal.services import PortalError
from portal.templating import page
from portal.views.common import _locale

logger = logging.getLogger(__name__)


# --- Payments ---------------------------------------------------------------------------------


def _card(form) -> CardInput:
    data = form.cleaned_data
    return CardInput(
        number=data.get("card_number", ""),
        exp_month=data.get("exp_month") or 0,
        exp_year=data.get("exp_year") or 0,
        cvc=data.get("cvc", ""),
    )


def _purposes(account: Account, locale: str) -> list[tuple[str, str]]:
    choices = [
        (
            CheckoutPurpose.FULL,
            _("The full balance: %(amount)s")
            % {"amount": format_money(account.balance, account.currency, locale)},
        )
    ]
    instalment = instalment_next(account_id=account.pk)
    if instalment is not None:
        choices.append(
            (
                CheckoutPurpose.INSTALMENT,
                _("My next instalment: %(amount)s")
                % {"amount": format_money(instalment.amount_due, account.currency, locale)},
            )
        )
    choices.append((CheckoutPurpose.PART, _("Another amount")))
    return choices


@portal_page()
@require_http_methods(["GET", "POST"])
def pay(request: HttpRequest, account_id: int) -> HttpResponse:
    """Pay in full, pay part, or pay the next instalment."""
    account = selectors.account_of(debtor_id=request.portal.debtor_id, account_id=account_id)
    locale = _locale(request)
    if not account.is_open or account.current_balance <= 0:
        messages.info(request, _("This account does not take payments any more."))
        return redirect("portal:overview")
    gateway = gateway_get()
    purposes = _purposes(account, locale)
    wanted = request.GET.get("purpose")
    initial = {
        "nonce": nonce_new(),
        "purpose": wanted if wanted in dict(purposes) else purposes[0][0],
    }
    form = PayForm(
        request.POST or None,
        initial=initial,
        purposes=purposes,
        collects_card=gateway.collects_card,
    )
    if request.method == "POST" and form.is_valid():
        try:
            checkout = services.checkout_start(
                debtor=request.portal.debtor,
                account=account,
                purpose=form.cleaned_data["purpose"],
                nonce=form.cleaned_data["nonce"],
                card=_card(form),
                amount=form.cleaned_data.get("amount"),
            )
        except PortalError as exc:
            form.add_error(None, str(exc))
        else:
            return _after_checkout(checkout)
    return page(
        request,
        "portal/pay.html",
        {
            "account": account,
            "form": form,
            "balance": format_money(account.balance, account.currency, locale),
            "sandbox": gateway.name == "sandbox",
        },
    )


def _after_checkout(checkout) -> HttpResponse:
    if checkout.status == CheckoutStatus.REQUIRES_ACTION and checkout.action_url:
        return redirect(checkout.action_url)
    return redirect("portal:checkout", checkout_id=checkout.pk)


@portal_page()
def checkout(request: HttpRequest, checkout_id: uuid.UUID) -> HttpResponse:
    """Where a payment stands: processing, needs authentication, done (receipt) or failed."""
    item = selectors.checkout_of(debtor_id=request.portal.debtor_id, checkout_id=checkout_id)
    locale = _locale(request)
    return page(
        request,
        "portal/checkout.html",
        {
            "checkout": item,
            "amount": format_money(item.amount, item.currency, locale),
            "failure": _failure_text(item.failure_code),
        },
    )


def _failure_text(code: str) -> str:
    texts = {
        "card_declined": _("Your card was declined. You have not been charged."),
        "expired_card": _("The card has expired."),
        "invalid_number": _("The card number is not valid."),
        "authentication_failed": _("The payment was not confirmed with your bank."),
        "test_card_only": _("This demo accepts only the test cards listed on the page."),
        "expired": _(
            "The payment page expired before the payment was made. You have not been charged."
        ),
        "provider_unavailable": _("We could not reach the payment service. Please try later."),
        "not_recorded_refund_due": _(
            "We could not apply this payment to your account; it will be refunded."
        ),
    }
    return texts.get(code, _("The payment did not go through.")) if code else ""


@portal_page()
@require_http_methods(["GET", "POST"])
def authenticate(request: HttpRequest, checkout_id: uuid.UUID) -> HttpResponse:
    """The sandbox's stand-in for the bank's 3-D Secure page."""
    item = selectors.checkout_of(debtor_id=request.portal.debtor_id, checkout_id=checkout_id)
    if item.gateway != "sandbox" or item.status != CheckoutStatus.REQUIRES_ACTION:
        return redirect("portal:checkout", checkout_id=item.pk)
    if request.method == "POST":
        services.checkout_authenticate(checkout=item, approved="approve" in request.POST)
        return redirect("portal:checkout", checkout_id=item.pk)
    return page(
        request,
        "portal/authenticate.html",
        {"checkout": item, "amount": format_money(item.amount, item.currency, _locale(request))},
    )


@portal_page()
def checkout_return(request: HttpRequest, checkout_id: uuid.UUID) -> HttpResponse:
    """Back from the provider's authentication page: read the outcome."""
    item = selectors.checkout_of(debtor_id=request.portal.debtor_id, checkout_id=checkout_id)
    services.checkout_refresh(checkout=item)
    return redirect("portal:checkout", checkout_id=item.pk)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe's signed events (`payment_intent.succeeded` / `.payment_failed`)."""
    try:
        outcome = services.webhook_handle(
            gateway_name="stripe",
            payload=request.body,
            signature=request.headers.get("Stripe-Signature", ""),
        )
    except GatewayError:
        return HttpResponseBadRequest("invalid signature")
    return HttpResponse(outcome, content_type="text/plain")


@portal_page()
@require_http_methods(["GET", "POST"])
def settle(request: HttpRequest, account_id: int) -> HttpResponse:
    """A settlement offer: pay less in one go before the offer expires, and the debt is settled."""
    account = selectors.account_of(debtor_id=request.portal.debtor_id, account_id=account_id)
    locale = _locale(request)
    gateway = gateway_get()
    if request.method == "POST":
        offer_id = request.POST.get("offer", "")
        # isdecimal, not isdigit: int() refuses digits such as "²" that isdigit() accepts.
        offer = (
            selectors.offer_of(account=account, offer_id=int(offer_id))
            if offer_id.isdecimal()
            else None
        )
    else:
        offer = services.settlement_offer_make(account=account)
    if offer is None:
        messages.info(request, _("There is no settlement offer for this account."))
        return redirect("portal:overview")
    form = SettleForm(
        request.POST or None,
        initial={"nonce": nonce_new(), "offer": offer.pk},
        collects_card=gateway.collects_card,
    )
    if request.method == "POST" and form.is_valid():
        try:
            item = services.checkout_start(
                debtor=request.portal.debtor,
                account=account,
                purpose=CheckoutPurpose.SETTLEMENT,
                nonce=form.cleaned_data["nonce"],
                card=_card(form),
                offer=offer,
            )
        except PortalError as exc:
            form.add_error(None, str(exc))
        else:
            return _after_checkout(item)
    zone = selectors.debtor_zone(request.portal.debtor)
    return page(
        request,
        "portal/settle.html",
        {
            "account": account,
            "offer": offer,
            "form": form,
            "sandbox": gateway.name == "sandbox",
            "balance": format_money(offer.balance, account.currency, locale),
            "amount": format_money(offer.amount, account.currency, locale),
            "saving": format_money(offer.balance - offer.amount, account.currency, locale),
            "expires": date_format(offer.expires_at, locale, "medium", tz=zone),
        },
    )
