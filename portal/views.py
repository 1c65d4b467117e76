"""The debtor's self-service pages (mounted at /p/ by `portal.urls`).

Server-rendered, no JavaScript. Views read through `portal.selectors` (always scoped to the
session's debtor) and write through `portal.services`; `portal.access.portal_page` guards each
one (session, verification, idle expiry, language, security headers).
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, timedelta
from typing import Any

from babel.dates import format_timedelta
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.links import LinkInvalid, portal_token_read
from accounts.models import (
    Account,
    AccountStatus,
    Debtor,
    InstallmentStatus,
    PlanFrequency,
    opt_out_flag,
)
from accounts.money import format_money
from accounts.regions import babel_locale
from accounts.selectors import instalment_next
from accounts.services import plan_schedule
from portal import access, selectors, services
from portal.access import portal_page, secure_headers
from portal.formatting import date_format
from portal.forms import (
    CallbackForm,
    DisputeForm,
    LanguageForm,
    PauseForm,
    PayForm,
    PlanForm,
    PreferencesForm,
    SettleForm,
    VerifyForm,
    callback_days,
    nonce_new,
)
from portal.gateways import CardInput, GatewayError, gateway_get
from portal.models import CheckoutPurpose, CheckoutStatus
from portal.services import PortalError, VerifyOutcome
from portal.templating import page

logger = logging.getLogger(__name__)


def _locale(request: HttpRequest) -> str:
    return babel_locale(request.LANGUAGE_CODE, request.portal.debtor.region)


# --- Access -----------------------------------------------------------------------------------


def link_exchange(request: HttpRequest, token: str) -> HttpResponse:
    """`/p/<token>/`: trade a message's link for a session, then drop the token from the URL."""
    try:
        read = portal_token_read(token)
        debtor = Debtor.objects.select_related("creditor").get(pk=read.debtor_id)
    except (LinkInvalid, Debtor.DoesNotExist):
        request.session.cycle_key()
        request.session[access.RELINK_KEY] = token[:4000]
        response = secure_headers(redirect("portal:link_invalid"))
        response["Referrer-Policy"] = "no-referrer"
        return response
    current = access.session_read(request)
    already = current is not None and current.verified and current.debtor_id == debtor.pk
    access.session_start(request, debtor=debtor, jti=read.jti, verified=already)
    services.link_open(debtor=debtor, jti=read.jti)
    response = secure_headers(redirect("portal:overview" if already else "portal:verify"))
    response["Referrer-Policy"] = "no-referrer"  # the token URL never travels as a referrer
    return response


@require_http_methods(["GET", "POST"])
def link_invalid(request: HttpRequest) -> HttpResponse:
    """An expired or altered link. The same page and the same answer whatever the token was.

    Also where the page of a link switched off by the lockout sends its "Send me a new link"
    (the session opened with that link names the debtor)."""
    portal = access.session_read(request)
    language = access.language_pick(
        portal.language if portal else None,
        request.session.get("portal_lang"),
        request.LANGUAGE_CODE,
    )
    with translation.override(language):
        request.LANGUAGE_CODE = language
        sent = False
        if request.method == "POST":
            token = request.session.pop(access.RELINK_KEY, "")
            if token:
                services.link_request(token=token)
            elif portal is not None:
                services.link_request_after_lockout(debtor_id=portal.debtor_id, jti=portal.jti)
            sent = True
        response = page(request, "portal/link_invalid.html", {"sent": sent})
    return secure_headers(response)


def _refused(request: HttpRequest, state: services.Verification) -> HttpResponse:
    """The page for a locked link or IP (429, with how long is left) or a link switched off
    by the lockout (410, with "Send me a new link")."""
    if state.outcome is VerifyOutcome.DEAD:
        return page(request, "portal/link_dead.html", status=410)
    left = max(state.locked_until - timezone.now(), timedelta(minutes=1))
    wait = format_timedelta(left, threshold=1, locale=request.LANGUAGE_CODE)
    return page(request, "portal/locked.html", {"wait": wait}, status=429)


@portal_page(verified=False)
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Date of birth and postal code before any debt detail; lockout after 5 wrong answers,
    longer each time, then the link is switched off (`services.identity_verify`)."""
    portal = request.portal
    if portal.verified:
        return redirect("portal:overview")
    ip = access.client_ip(request)
    if request.method == "GET":
        state = services.verification_state(jti=portal.jti, ip=ip)
        if state is not None:
            return _refused(request, state)
    form = VerifyForm(request.POST or None)
    wrong = False
    if request.method == "POST" and form.is_valid():
        result = services.identity_verify(
            debtor_id=portal.debtor_id,
            jti=portal.jti,
            ip=ip,
            date_of_birth=form.cleaned_data["date_of_birth"],
            postal_code=form.cleaned_data["postal_code"],
        )
        if result.outcome is VerifyOutcome.VERIFIED:
            access.session_verified(request)
            return redirect("portal:overview")
        if result.outcome is not VerifyOutcome.WRONG:
            return _refused(request, result)
        wrong = True
        form = VerifyForm()
    return page(request, "portal/verify.html", {"form": form, "wrong": wrong})


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    request.session.flush()
    return secure_headers(page(request, "portal/signed_out.html"))


@require_POST
def language(request: HttpRequest) -> HttpResponse:
    """The language switcher (a plain form). A verified debtor's choice is saved on the record."""
    form = LanguageForm(request.POST)
    target = reverse("portal:overview")
    if form.is_valid():
        code = form.cleaned_data["language"]
        access.session_language(request, code)
        portal = access.session_read(request)
        if portal is not None and portal.verified:
            services.language_set(debtor=portal.debtor, language=code)
        nxt = form.cleaned_data.get("next") or ""
        if nxt.startswith("/p/") and url_has_allowed_host_and_scheme(nxt, allowed_hosts=None):
            target = nxt
    return secure_headers(redirect(target))


# --- Overview and history ---------------------------------------------------------------------


def _status_label(status: str) -> str:
    """The account status's label in the active language, as `get_status_display()` gives it
    (which builds and hashes the whole list of translated choices on every call)."""
    try:
        return str(AccountStatus(status).label)
    except ValueError:
        return status


def _account_card(account: Account, locale: str, instalment) -> dict[str, Any]:
    """One account on the overview, as plain values: the template finds each in a dict at
    the first try, where a model attribute costs it a failed `account[name]` first."""
    open_ = account.is_open
    status = account.status
    return {
        "account": account,
        "pk": account.pk,
        "ref": account.external_ref,
        "description": account.description,
        "status": status,
        "status_label": _status_label(status),
        "is_open": open_,
        "balance": format_money(account.balance, account.currency, locale),
        "original": format_money(account.original_amount, account.currency, locale),
        "due_date": date_format(account.due_date, locale),
        "paused_until": date_format(account.paused_until, locale),
        "next": instalment,
        "next_missed": instalment is not None and instalment.status == InstallmentStatus.MISSED,
        "next_amount": format_money(instalment.amount_due, account.currency, locale)
        if instalment
        else "",
        "next_due": date_format(instalment.due_date, locale) if instalment else "",
        "can_pay": open_ and account.current_balance > 0,
        "can_plan": status in services.PLANNABLE,
        "can_settle": status in services.SETTLEABLE
        and account.creditor.settlement_allowed
        and account.creditor.max_settlement_discount_pct > 0,
        "can_pause": status in services.PAUSABLE,
        "can_dispute": status in services.DISPUTABLE,
    }


@portal_page()
def overview(request: HttpRequest) -> HttpResponse:
    """Creditor, what is owed and why, balance, dates, and what the debtor can do next."""
    accounts = selectors.accounts_of(debtor_id=request.portal.debtor_id)
    if accounts:  # one query for the accounts, their debtor and creditor
        request.portal.__dict__["debtor"] = accounts[0].debtor
    locale = _locale(request)
    planned = [a.pk for a in accounts if a.status in selectors.PLAN_STATUSES]
    nexts = selectors.next_instalments(account_ids=planned) if planned else {}
    cards = [_account_card(a, locale, nexts.get(a.pk)) for a in accounts]
    return page(request, "portal/overview.html", {"cards": cards})


@portal_page()
def history(request: HttpRequest) -> HttpResponse:
    debtor_id = request.portal.debtor_id
    locale = _locale(request)
    zone = selectors.debtor_zone(request.portal.debtor)
    payments = [
        {
            "payment": p,
            "amount": format_money(p.amount, p.currency, locale),
            "date": date_format(p.received_at, locale, "medium", tz=zone),
        }
        for p in selectors.payments_of(debtor_id=debtor_id)[:100]
    ]
    plans = []
    for plan in selectors.plans_of(debtor_id=debtor_id):
        rows = [
            {
                "inst": i,
                "amount": format_money(i.amount, plan.account.currency, locale),
                "due": date_format(i.due_date, locale, "medium"),
            }
            for i in plan.installments.all()
        ]
        plans.append({"plan": plan, "rows": rows})
    sent = [
        {"message": m, "date": date_format(m.sent_at, locale, "medium", tz=zone)}
        for m in selectors.messages_of(debtor_id=debtor_id)
    ]
    return page(
        request, "portal/history.html", {"payments": payments, "plans": plans, "sent": sent}
    )


@portal_page()
def receipt(request: HttpRequest, payment_id: int) -> HttpResponse:
    payment = selectors.payment_of(debtor_id=request.portal.debtor_id, payment_id=payment_id)
    locale = _locale(request)
    zone = selectors.debtor_zone(request.portal.debtor)
    return page(
        request,
        "portal/receipt.html",
        {
            "payment": payment,
            "amount": format_money(payment.amount, payment.currency, locale),
            "date": date_format(payment.received_at, locale, "medium", tz=zone),
        },
    )


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


# --- Plan -------------------------------------------------------------------------------------


@portal_page()
@require_http_methods(["GET", "POST"])
def plan(request: HttpRequest, account_id: int) -> HttpResponse:
    """Plan builder: choose frequency, count and first date, see the schedule, then accept."""
    account = selectors.account_of(debtor_id=request.portal.debtor_id, account_id=account_id)
    if account.status not in services.PLANNABLE:
        messages.info(request, _("A payment plan cannot be set up for this account now."))
        return redirect("portal:overview")
    locale = _locale(request)
    ranges = selectors.plan_ranges(account=account)
    by_frequency = {r.frequency: r for r in ranges}
    data = request.POST if request.method == "POST" else (request.GET or None)
    form = PlanForm(
        data,
        initial={"frequency": PlanFrequency.MONTHLY, "first_due": timezone.localdate()},
    )
    schedule = None
    if data is not None and form.is_valid():
        frequency = form.cleaned_data["frequency"]
        count = form.cleaned_data["count"]
        first_due = form.cleaned_data["first_due"]
        allowed = by_frequency.get(frequency)
        today = timezone.localdate()
        if allowed is None or not allowed.minimum <= count <= allowed.maximum:
            form.add_error(
                "count",
                _("Choose between %(min)s and %(max)s instalments for this frequency.")
                % {
                    "min": allowed.minimum if allowed else 2,
                    "max": allowed.maximum if allowed else 2,
                },
            )
        elif not today <= first_due <= today + timedelta(days=services.PLAN_START_DAYS):
            form.add_error("first_due", _("Choose a date within the next 30 days."))
        elif not selectors.plan_allowed(account, frequency, count, first_due):
            form.add_error(None, _("This plan is outside what the creditor allows."))
        elif request.method == "POST":
            try:
                services.plan_accept(
                    account=account, frequency=frequency, count=count, first_due=first_due
                )
            except PortalError as exc:
                form.add_error(None, str(exc))
            else:
                if first_due <= today:
                    messages.success(
                        request, _("Your plan is agreed. Please pay the first instalment now.")
                    )
                    url = reverse("portal:pay", args=[account.pk]) + "?purpose=instalment"
                    return redirect(url)
                messages.success(
                    request,
                    _("Your plan is agreed. The first instalment is due on %(date)s.")
                    % {"date": date_format(first_due, locale)},
                )
                return redirect("portal:overview")
        else:
            schedule = [
                {"n": i + 1, "due": date_format(due, locale), "amount": format_money(
                    amount, account.currency, locale)}
                for i, (due, amount) in enumerate(
                    plan_schedule(
                        total=account.balance,
                        currency=account.currency,
                        frequency=frequency,
                        count=count,
                        first_due=first_due,
                    )
                )
            ]  # fmt: skip
    return page(
        request,
        "portal/plan.html",
        {
            "account": account,
            "form": form,
            "ranges": ranges,
            "schedule": schedule,
            "balance": format_money(account.balance, account.currency, locale),
            "min_instalment": format_money(
                account.creditor.min_instalment, account.currency, locale
            ),
        },
    )


# --- Pause, dispute ---------------------------------------------------------------------------


@portal_page()
@require_http_methods(["GET", "POST"])
def pause(request: HttpRequest, account_id: int) -> HttpResponse:
    account = selectors.account_of(debtor_id=request.portal.debtor_id, account_id=account_id)
    if account.status not in services.PAUSABLE:
        messages.info(request, _("This account cannot be paused now."))
        return redirect("portal:overview")
    limit = account.creditor.max_pause_days
    form = PauseForm(request.POST or None, max_days=limit, initial={"days": min(30, limit)})
    if request.method == "POST" and form.is_valid():
        try:
            item = services.pause_request(
                account=account, reason=form.cleaned_data["reason"], days=form.cleaned_data["days"]
            )
        except PortalError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                _("Collection is paused until %(date)s. We will not contact you about it "
                  "until then.") % {"date": date_format(item.until, _locale(request))},
            )  # fmt: skip
            return redirect("portal:overview")
    return page(request, "portal/pause.html", {"account": account, "form": form, "limit": limit})


@portal_page()
@require_http_methods(["GET", "POST"])
def dispute(request: HttpRequest, account_id: int) -> HttpResponse:
    account = selectors.account_of(debtor_id=request.portal.debtor_id, account_id=account_id)
    if account.status not in services.DISPUTABLE:
        messages.info(request, _("This account cannot be disputed here now."))
        return redirect("portal:overview")
    form = DisputeForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.dispute_raise(
                account=account,
                reason=form.cleaned_data["reason"],
                details=form.cleaned_data["details"],
                document=form.cleaned_data.get("document"),
            )
        except PortalError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                _("Thank you. Your dispute is recorded and collection has stopped until we "
                  "have looked into it."),
            )  # fmt: skip
            return redirect("portal:overview")
    return page(request, "portal/dispute.html", {"account": account, "form": form})


# --- Preferences, call back -------------------------------------------------------------------


@portal_page()
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    debtor = request.portal.debtor
    flags = set(debtor.flags or [])
    initial = {
        "preferred_channel": debtor.preferred_channel,
        "time_window": services.time_window_of(debtor),
        "opted_out": [c for c in services.CHANNELS if opt_out_flag(c) in flags],
    }
    form = PreferencesForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.preferences_update(
                debtor=debtor,
                preferred_channel=form.cleaned_data["preferred_channel"],
                time_window=form.cleaned_data["time_window"],
                opted_out=form.cleaned_data["opted_out"],
            )
        except PortalError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Your contact preferences are saved."))
            return redirect("portal:preferences")
    return page(request, "portal/preferences.html", {"form": form})


@portal_page()
@require_http_methods(["GET", "POST"])
def callback(request: HttpRequest) -> HttpResponse:
    debtor = request.portal.debtor
    locale = _locale(request)
    days = [
        (d.isoformat(), date_format(d, locale, "full"))
        for d in callback_days(selectors.debtor_today(debtor), services.CALLBACK_DAYS)
    ]
    form = CallbackForm(request.POST or None, days=days)
    if request.method == "POST" and form.is_valid():
        account = next((a for a in selectors.accounts_of(debtor_id=debtor.pk) if a.is_open), None)
        try:
            services.callback_request(
                debtor=debtor,
                account=account,
                day=date.fromisoformat(form.cleaned_data["day"]),
                window=form.cleaned_data["window"],
            )
        except PortalError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("We will call you back on the number we have for you."))
            return redirect("portal:overview")
    return page(request, "portal/callback.html", {"form": form})
