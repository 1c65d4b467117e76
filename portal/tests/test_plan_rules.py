"""A plan's rules have one owner, `accounts.services.plan_check`: the service path
(`plan_check`, `plan_accept`) and the portal's plan page refuse each rule once, there, with the
same rule, the same field and the same translated words."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from django.utils.translation import override
from markupsafe import escape

from accounts.models import Account, PaymentPlan
from accounts.services import PLAN_RULES, PlanRefused, account_dispute, plan_schedule
from accounts.services import plans as account_plans
from portal import services
from portal.services import requests as portal_requests

pytestmark = pytest.mark.django_db


def _today(days: int = 0) -> date:
    return timezone.localdate() + timedelta(days=days)


def _cheap_instalments(account: Account) -> None:
    account.creditor.min_instalment = Decimal("1")
    account.creditor.save()


def _disputed(account: Account) -> None:
    account_dispute(account=account, actor="t", summary="Disputed.", data={})
    account.refresh_from_db()


# (rule, field) -> (set-up of the account, the plan asked for, the debtor's words in English).
# The factories' creditor allows 12 months and instalments of at least 10.00 on 120.50.
Setup = Callable[[Account], None]
CASES: dict[tuple[str, str | None], tuple[Setup, dict[str, Any], str]] = {
    ("status", None): (
        _disputed,
        {"frequency": "monthly", "count": 3, "first_due": 0},
        "A payment plan cannot be set up for this account now.",
    ),
    ("frequency", "frequency"): (
        lambda a: None,
        {"frequency": "yearly", "count": 3, "first_due": 0},
        "Choose how often to pay.",
    ),
    ("min_count", "count"): (
        lambda a: None,
        {"frequency": "monthly", "count": 1, "first_due": 0},
        "Choose at least two instalments.",
    ),
    ("max_months", "count"): (
        _cheap_instalments,
        {"frequency": "monthly", "count": 14, "first_due": 0},
        "Choose between 2 and 13 instalments for this frequency.",
    ),
    ("min_instalment", "count"): (
        lambda a: None,
        {"frequency": "weekly", "count": 13, "first_due": 0},
        "Choose between 2 and 12 instalments for this frequency.",
    ),
    ("first_due_past", "first_due"): (
        lambda a: None,
        {"frequency": "monthly", "count": 3, "first_due": -1},
        "Choose a date within the next 30 days.",
    ),
    ("first_due_late", "first_due"): (
        lambda a: None,
        {"frequency": "monthly", "count": 3, "first_due": 31},
        "Choose a date within the next 30 days.",
    ),
    # 13 monthly instalments fit from today; starting in 20 days the last is too late.
    ("max_months", None): (
        _cheap_instalments,
        {"frequency": "monthly", "count": 13, "first_due": 20},
        "This plan is outside what the creditor allows.",
    ),
}


def _asked(case: tuple[str, str | None], account: Account) -> dict[str, Any]:
    setup, asked, _words = CASES[case]
    setup(account)
    return {**asked, "first_due": _today(asked["first_due"])}


def test_every_plan_rule_has_a_case():
    assert {rule for rule, _field in CASES} == set(PLAN_RULES)


@pytest.fixture
def owner_calls(monkeypatch) -> list[str | None]:
    """The rule (None: accepted) of each call to the rule owner, wherever it is called from."""
    calls: list[str | None] = []
    real = account_plans.plan_check

    def spy(**kwargs: Any) -> list[tuple[date, Decimal]]:
        try:
            schedule = real(**kwargs)
        except PlanRefused as exc:
            calls.append(exc.rule)
            raise
        calls.append(None)
        return schedule

    monkeypatch.setattr(account_plans, "plan_check", spy)
    monkeypatch.setattr(portal_requests, "plan_check", spy)
    return calls


@pytest.mark.parametrize("case", list(CASES), ids=lambda c: f"{c[0]}-{c[1]}")
def test_each_plan_rule_is_refused_once_by_its_owner_on_every_path(
    case, debtor_client, account, owner_calls
):
    rule, field = case
    words = CASES[case][2]
    asked = _asked(case, account)
    account = Account.objects.select_related("creditor").get(pk=account.pk)

    with pytest.raises(PlanRefused) as refused:
        account_plans.plan_check(account=account, self_service=True, **asked)
    assert (refused.value.rule, refused.value.field) == case
    assert owner_calls == [rule]

    owner_calls.clear()
    with pytest.raises(services.PortalError) as by_service:
        services.plan_accept(account=account, **asked)
    assert (by_service.value.rule, by_service.value.field, str(by_service.value)) == (
        rule,
        field,
        words,
    )
    assert owner_calls == [rule]

    owner_calls.clear()
    form = {**asked, "first_due": asked["first_due"].isoformat()}
    response = debtor_client.post(f"/p/a/{account.pk}/plan/", form)
    if rule == "status":  # the page itself is closed: its notice says why
        assert response["Location"] == "/p/"
        assert words in debtor_client.get("/p/").content.decode()
    else:
        page = response.content.decode()
        assert response.status_code == 200
        assert owner_calls == [rule]
        if field is None:
            summary = page.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
            assert escape(words) in summary
        else:
            error = page.split(f'id="id_{field}_error">', 1)[1].split("</p>", 1)[0]
            assert error == '<span class="visually-hidden">Error: </span>' + str(escape(words))
            # The summary above the form names it too, and leads to the field.
            summary = page.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
            assert escape(words) in summary and 'href="#id_' + field in summary
    assert not PaymentPlan.objects.exists()


@pytest.mark.parametrize("language", ["fr", "de"])
def test_a_plan_refusal_reaches_the_debtor_in_their_language(language, account):
    asked = _asked(("min_instalment", "count"), account)
    with override(language), pytest.raises(services.PortalError) as refused:
        services.plan_accept(account=account, **asked)
    assert "2" in str(refused.value) and "12" in str(refused.value)
    assert str(refused.value) != CASES[("min_instalment", "count")][2]


def test_nothing_but_the_owner_refuses_a_plan(debtor_client, account, other_account, monkeypatch):
    """With the owner accepting anything, the page and the service agree plans that break every
    rule but the account's status: no other layer repeats a rule."""

    def anything(*, account, frequency, count, first_due, self_service=False):
        return plan_schedule(
            total=account.balance,
            currency=account.currency,
            frequency=frequency,
            count=count,
            first_due=first_due,
        )

    monkeypatch.setattr(account_plans, "plan_check", anything)
    monkeypatch.setattr(portal_requests, "plan_check", anything)
    # One instalment, in 40 days: below the self-service minimum and past the start window.
    response = debtor_client.post(
        f"/p/a/{account.pk}/plan/",
        {"frequency": "monthly", "count": "1", "first_due": _today(40).isoformat()},
    )
    assert response["Location"] == "/p/"
    assert PaymentPlan.objects.get(account=account).instalment_count == 1
    # Sixty weekly instalments of about 2.00, from yesterday, through the service.
    plan = services.plan_accept(
        account=other_account, frequency="weekly", count=60, first_due=_today(-1)
    )
    assert plan.instalment_count == 60
