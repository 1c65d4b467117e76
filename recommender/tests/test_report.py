"""The uplift report: per-arm rates from real messages, admin and command (its interval
arithmetic is in test_evaluation.py)."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command

from recommender.tests.conftest import place_accounts, record_event, send_and_dispatch, utc


def _decision_for(message):
    """The decision row the planner writes with each message it plans."""

    from recommender import features as F
    from recommender.models import Decision

    eligible = np.zeros(F.N_ACTIONS, dtype=bool)
    eligible[0] = True
    return Decision.objects.create(
        message=message, account_id=message.account_id, debtor_id=message.debtor_id,
        arm=message.arm, feature_version=F.FEATURE_VERSION, stage="early", action=0,
        propensity=1.0, candidates=1, context=Decision.pack_context(np.zeros(F.N_FEATURES)),
        eligible=Decision.pack_eligible(eligible),
    )  # fmt: skip


def test_uplift_report_counts_arms_from_sent_messages(creditor, library, sim_backends, clock):
    from recommender.selectors import uplift_report

    accounts = place_accounts(creditor, 6)
    now = utc(2026, 3, 10, 14, 0)
    clock.move_to(now)
    email = next(v for v in library if v.channel == "email" and "early" in v.stages)
    for k, account in enumerate(accounts):
        arm = "policy" if k < 4 else "control"
        m = send_and_dispatch(account, email, at=now + timedelta(minutes=k), arm=arm)
        if k < 5:  # the planner's decisions; the sixth is a message sent for another reason
            _decision_for(m)
        if k in (0, 1, 4, 5):
            record_event(m, "clicked", now + timedelta(hours=1))
        if k in (0, 5):
            record_event(m, "converted", now + timedelta(hours=2))
    report = uplift_report()
    policy, control = report["arms"]["policy"], report["arms"]["control"]
    assert (policy["sent"], policy["clicked"], policy["converted"]) == (4, 2, 1)
    assert (control["sent"], control["clicked"], control["converted"]) == (1, 1, 0)
    assert policy["click_rate"]["rate"] == 0.5
    assert report["uplift"]["click"]["value"] == pytest.approx(-0.5)
    assert report["off_policy"] is None  # no live model yet
    out = StringIO()
    call_command("uplift_report", stdout=out)
    assert json.loads(out.getvalue())["arms"]["policy"]["sent"] == 4


@pytest.mark.django_db
def test_with_a_live_model_the_report_has_its_off_policy_value(creditor, library, clock):
    from recommender.selectors import uplift_report
    from recommender.tests.test_models import FAST, train_and_promote

    model = train_and_promote(creditor, clock)
    from django.test import override_settings

    with override_settings(**FAST):
        report = uplift_report()
    off = report["off_policy"]
    assert off["model"] == model.label and off["rows"] >= 20
    assert off["lower"] <= off["difference"] <= off["upper"]


@pytest.mark.django_db
def test_admin_report_page_and_model_actions(creditor, library, clock, admin_client, admin_user):
    from recommender.models import ModelVersion
    from recommender.tests.test_models import retrain, train_and_promote

    first = train_and_promote(creditor, clock)
    second = retrain(clock, promote=False)
    admin_client.force_login(admin_user)  # days have passed: an admin session lasts a workday
    page = admin_client.get("/django-admin/recommender/modelversion/uplift/")
    assert page.status_code == 200 and b"Relative uplift" in page.content
    listing = admin_client.get("/django-admin/recommender/modelversion/")
    assert listing.status_code == 200 and first.label.encode() in listing.content
    url = "/django-admin/recommender/modelversion/"
    admin_client.post(url, {"action": "promote_selected", "_selected_action": [second.pk]})
    assert ModelVersion.objects.get(pk=second.pk).status == "live"
    admin_client.post(url, {"action": "roll_back", "_selected_action": [second.pk]})
    assert ModelVersion.objects.get(pk=first.pk).status == "live"
    detail = admin_client.get(f"{url}{first.pk}/change/")
    assert detail.status_code == 200 and b"holdout_log_loss" in detail.content


@pytest.mark.django_db(transaction=True)
def test_admin_retrain_action_queues_the_task_after_commit(
    creditor, library, clock, admin_client, admin_user, settings
):
    """Tasks run synchronously in tests: the action's task runs once the request commits."""
    from django_q.models import Task

    from recommender.tests.test_models import train_and_promote

    model = train_and_promote(creditor, clock)
    admin_client.force_login(admin_user)  # days have passed: an admin session lasts a workday
    settings.RECOMMENDER_MIN_TRAIN_ROWS = 10**6  # the task runs, and reports a skip
    response = admin_client.post(
        "/django-admin/recommender/modelversion/",
        {"action": "retrain_now", "_selected_action": [model.pk]},
        follow=True,
    )
    assert b"Retraining queued" in response.content
    task = Task.objects.get(func="recommender.tasks.model_retrain_task")
    assert task.success and "skipped" in task.result


@pytest.mark.parametrize("days", ["0", "-3"])
def test_uplift_report_command_refuses_a_period_that_is_not_positive(days):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="--days must be at least 1"):
        call_command("uplift_report", "--days", days, stdout=StringIO())
