"""What a debtor asks for: a plan, a pause, a dispute, contact preferences, a call back."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts.models import (
    PlanFrequency,
    opt_out_flag,
)
from accounts.money import format_money
from accounts.services import plan_schedule
from portal import selectors, services
from portal.access import portal_page
from portal.formatting import date_format
from portal.forms import (
    CallbackForm,
    DisputeForm,
    PauseForm,
    PlanForm,
    PreferencesForm,
    callback_days,
)
from portal.services import PortalError
from portal.templating import page
from portal.views.common import _locale

logger = logging.getLogger(__name__)


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
