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

    model = train_and_promote(creditor, clock, n=80)
    from django.test import override_settings

    with override_settings(**FAST):
        report = uplift_report()
    off = report["off_policy"]
    assert off["model"] == model.label and off["rows"] >= 40
    # With 80 decisions over a dozen kinds, some logged action is the model's pick.
    assert off["lower"] <= off["difference"] <= off["upper"]


@pytest.mark.django_db
def test_a_live_model_that_would_pick_none_of_the_logged_actions_has_no_estimate(
    creditor, library, clock, monkeypatch
):
    import json

    import numpy as np

    from recommender import selectors
    from recommender.tests.test_models import FAST, logged_decisions

    logged_decisions(creditor, clock)

    class Never:
        def probabilities(self, X, *, eligible, explore):
            return np.zeros(eligible.shape)

    live = type("Loaded", (), {"label": "m-never", "policy": Never()})()
    monkeypatch.setattr(selectors, "policy_live", lambda: live)
    from django.test import override_settings

    with override_settings(**FAST):
        report = selectors.uplift_report()
    off = report["off_policy"]
    assert off["model"] == "m-never" and "no estimate" in off["note"]
    json.dumps(report, allow_nan=False)  # valid JSON: no NaN anywhere


@pytest.mark.django_db
def test_admin_report_page_and_model_actions(creditor, library, clock, admin_client, admin_user):
    from recommender.models import ModelVersion
    from recommender.tests.test_models import logged_decisions, retrain, train_and_promote

    first = train_and_promote(creditor, clock)
    logged_decisions(creditor, clock, n=5, start=300)  # new logs: a second model to compare
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
    # Asked for now, it does not wait for the logs to grow as the nightly run does.
    assert task.args == (f"admin:{admin_user.pk}", False)


@pytest.mark.parametrize("days", ["0", "-3"])
def test_uplift_report_command_refuses_a_period_that_is_not_positive(days):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="--days must be at least 1"):
        call_command("uplift_report", "--days", days, stdout=StringIO())


def _planned_sends(
    creditor, library, *, policy: int, control: int, converted_policy: int = 0, start: int = 1
):
    """`policy` + `control` planner messages to fresh accounts (references from `start`), a
    minute apart; the first `converted_policy` policy messages convert."""
    now = utc(2026, 3, 10, 14, 0)
    email = next(v for v in library if v.channel == "email" and "early" in v.stages)
    for k, account in enumerate(place_accounts(creditor, policy + control, start=start)):
        m = send_and_dispatch(
            account, email, at=now + timedelta(minutes=k), arm="policy" if k < policy else "control"
        )
        _decision_for(m)
        if k < converted_policy:
            record_event(m, "converted", now + timedelta(hours=2))


def test_an_uplift_from_23_policy_and_1_control_send_is_withheld(
    creditor, library, sim_backends, clock, admin_client, settings
):
    """Without the guard this printed "conversion uplift -94% [-100%, 123%]"."""
    from recommender.selectors import uplift_report

    settings.RECOMMENDER_CONTROL_SHARE = 0.1
    settings.RECOMMENDER_UPLIFT_MIN_DETECTABLE = 0.2
    settings.RECOMMENDER_UPLIFT_BASELINE_RATE = {"conversion": 0.02, "click": 0.05}
    clock.move_to(utc(2026, 3, 10, 14, 0))
    _planned_sends(creditor, library, policy=23, control=1)

    raw = uplift_report()["uplift"]["conversion"]
    assert raw["value"] == pytest.approx(-0.94, abs=0.01)  # kept for callers that weigh it
    shown = uplift_report(for_display=True)["uplift"]["conversion"]
    # No conversion in the control arm: the assumed 2% baseline; 2.0% -> 2.4% with one send
    # in ten in the control arm needs 12,047 control and 108,417 policy sends.
    assert shown["baseline_rate"] == 0.02 and not shown["baseline_observed"]
    assert shown["needed_per_arm"] == {"policy": 108_417, "control": 12_047}
    assert shown["more_per_arm"] == {"policy": 108_394, "control": 12_046}
    assert shown["enough"] is False
    assert (shown["value"], shown["lower"], shown["upper"]) == (None, None, None)
    assert shown["message"] == (
        "not enough data yet: 12,046 more sends in the control arm and 108,394 in the policy "
        "arm to detect a 20% uplift"
    )

    out = StringIO()
    call_command("uplift_report", stdout=out)
    printed = json.loads(out.getvalue())["uplift"]["conversion"]
    assert printed["value"] is None and printed["message"] == shown["message"]

    page = admin_client.get("/django-admin/recommender/modelversion/uplift/")
    assert page.status_code == 200
    assert b"not enough data yet: 12,046 more sends in the control arm" in page.content
    assert b"-94%" not in page.content and b"123%" not in page.content


def test_an_uplift_is_shown_once_both_arms_have_the_sample(
    creditor, library, sim_backends, clock, admin_client, settings
):
    from recommender.selectors import uplift_report

    # A 50% baseline and a 100% minimum uplift (50% -> 100%) with even arms: 11 sends each.
    settings.RECOMMENDER_CONTROL_SHARE = 0.5
    settings.RECOMMENDER_UPLIFT_MIN_DETECTABLE = 1.0
    settings.RECOMMENDER_UPLIFT_BASELINE_RATE = {"conversion": 0.5, "click": 0.5}
    clock.move_to(utc(2026, 3, 10, 14, 0))
    _planned_sends(creditor, library, policy=11, control=10, converted_policy=3)
    short = uplift_report(for_display=True)["uplift"]["conversion"]
    assert short["needed_per_arm"] == {"policy": 11, "control": 11}
    assert short["more_per_arm"] == {"policy": 0, "control": 1}
    assert not short["enough"] and short["value"] is None

    _planned_sends(creditor, library, policy=0, control=1, start=22)  # the 11th control send
    shown = uplift_report(for_display=True)["uplift"]["conversion"]
    assert shown["enough"] and shown["more_per_arm"] == {"policy": 0, "control": 0}
    assert shown["message"] is None
    # 3 of 11 against 0 of 11, half a count added to every count: (3.5/11.5) / (0.5/11.5) - 1.
    assert shown["value"] == pytest.approx(6.0)
    out = StringIO()
    call_command("uplift_report", stdout=out)
    assert json.loads(out.getvalue())["uplift"]["conversion"]["value"] == shown["value"]
    page = admin_client.get("/django-admin/recommender/modelversion/uplift/")
    assert b"not enough data yet" not in page.content
    assert f"{round(shown['value'] * 100)}%".encode() in page.content


def test_the_send_time_arm_is_planned_and_reported_when_configured(
    creditor, library, clock, admin_client, admin_user
):
    from django.test import override_settings

    from messaging.models import Message
    from recommender.models import Decision
    from recommender.selectors import uplift_report
    from recommender.tests.test_models import logged_decisions

    logged_decisions(creditor, clock, n=30)
    assert uplift_report()["send_time_uplift"] is None  # switched off: no such arm
    with override_settings(RECOMMENDER_SEND_TIME_SHARE=0.5):
        logged_decisions(creditor, clock, n=60, start=100)
        timed = Decision.objects.filter(arm="send_time")
        assert 15 < timed.count() < 45
        assert set(Message.objects.filter(decision__in=timed).values_list("arm", flat=True)) == {
            "send_time"
        }
        report = uplift_report()
        admin_client.force_login(admin_user)  # the clock moved on: a fresh session
        page = admin_client.get("/django-admin/recommender/modelversion/uplift/").content
    assert report["arms"]["send_time"]["sent"] == timed.count()
    assert b"What choosing the send time is worth" in page
    assert b"more sends in the send-time arm" in page
    uplift = report["send_time_uplift"]["conversion"]
    assert uplift["enough"] is False  # a few dozen sends cannot tell
    assert "more sends in the send-time arm" in uplift["message"]
