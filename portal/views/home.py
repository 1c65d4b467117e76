"""The overview of the debtor's accounts, the history and receipts."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse

from accounts.models import (
    Account,
    AccountStatus,
    InstallmentStatus,
)
from accounts.money import format_money
from portal import selectors, services
from portal.access import portal_page
from portal.formatting import date_format
from portal.templating import page
from portal.views.common import _locale

logger = logging.getLogger(__name__)


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
