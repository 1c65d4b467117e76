"""What a debtor asks for: a plan, a pause, a dispute, contact preferences, a call back."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts.models import (
    Account,
    PlanFrequency,
    opt_out_flag,
)
from accounts.money import format_money
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
    """Plan builder: choose frequency, count and first date, see the schedule, then accept.

    The form only parses; every rule is `accounts.services.plan_check`'s, asked through
    `services.plan_preview` (the schedule shown) and `services.plan_accept` (agreeing it),
    whose refusal is shown next to the field it names.
    """
    account = selectors.account_of(debtor_id=request.portal.debtor_id, account_id=account_id)
    if account.status not in services.PLANNABLE:
        messages.info(request, _("A payment plan cannot be set up for this account now."))
        return redirect("portal:overview")
    locale = _locale(request)
    data = request.POST if request.method == "POST" else (request.GET or None)
    form = PlanForm(
        data,
        initial={"frequency": PlanFrequency.MONTHLY, "first_due": timezone.localdate()},
    )
    schedule = None
    if data is not None and form.is_valid():
        chosen = {k: form.cleaned_data[k] for k in ("frequency", "count", "first_due")}
        try:
            if request.method == "POST":
                services.plan_accept(account=account, **chosen)
                return _plan_agreed(request, account, chosen["first_due"], locale)
            preview = services.plan_preview(account=account, **chosen)
            schedule = _schedule_rows(preview, account, locale)
        except PortalError as exc:
            form.add_error(exc.field, str(exc))
    return page(
        request,
        "portal/plan.html",
        {
            "account": account,
            "form": form,
            "ranges": selectors.plan_ranges(account=account),
            "schedule": schedule,
            "balance": format_money(account.balance, account.currency, locale),
            "min_instalment": format_money(
                account.creditor.min_instalment, account.currency, locale
            ),
        },
    )


def _plan_agreed(
    request: HttpRequest, account: Account, first_due: date, locale: str
) -> HttpResponse:
    """After a plan is agreed: pay the first instalment now if it is due, else the overview."""
    if first_due <= timezone.localdate():
        messages.success(request, _("Your plan is agreed. Please pay the first instalment now."))
        return redirect(reverse("portal:pay", args=[account.pk]) + "?purpose=instalment")
    messages.success(
        request,
        _("Your plan is agreed. The first instalment is due on %(date)s.")
        % {"date": date_format(first_due, locale)},
    )
    return redirect("portal:overview")


def _schedule_rows(
    schedule: list[tuple[date, Decimal]], account: Account, locale: str
) -> list[dict[str, object]]:
    return [
        {
            "n": i + 1,
            "due": date_format(due, locale),
            "amount": format_money(amount, account.currency, locale),
        }
        for i, (due, amount) in enumerate(schedule)
    ]


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
