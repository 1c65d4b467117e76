"""Models in production: retraining from the logs, promotion, rollback, loading, guards."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.test import override_settings

from recommender.tests.conftest import SIM_BACKENDS, place_accounts, record_event

pytestmark = pytest.mark.django_db

FAST = {
    **SIM_BACKENDS,
    "RECOMMENDER_REWARD_DELAY_DAYS": 0,
    "RECOMMENDER_MIN_TRAIN_ROWS": 20,
    "RECOMMENDER_MIN_LIVE_COMPARISON_ROWS": 5,
    "RECOMMENDER_MODEL_RECHECK_SECONDS": 0,
    # A new fit on every retraining: these tests retrain after a few new decisions. The wait
    # for grown logs has its own test.
    "RECOMMENDER_RETRAIN_MIN_NEW_SHARE": 0,
}


def logged_decisions(creditor, clock, *, n: int = 40, start: int = 1, convert=None):
    """Plan, send and (for some) convert `n` first contacts through the real pipeline; the
    clock ends just after the last one went out."""
    from django.utils import timezone

    from messaging import services as messaging
    from messaging.models import Message
    from recommender import services

    convert = convert or (lambda m: m.channel == "sms")
    with override_settings(**FAST):
        accounts = place_accounts(creditor, n, start=start)
        services.plan_contacts()
        now = timezone.now()
        messages = list(Message.objects.filter(account__in=accounts))
        later = max(m.due_at for m in messages) + timedelta(minutes=1)
        clock.move_to(later)
        messaging.dispatch_due()
        for m in Message.objects.filter(account__in=accounts, sent_at__isnull=False):
            if convert(m):
                record_event(m, "converted", later)
    return now


def retrain(clock, *, days: float = 2, **kwargs):
    """Retrain `days` after now (conversions have had time to be attributed)."""
    from django.utils import timezone

    from recommender import services

    clock.move_to(timezone.now() + timedelta(days=days))
    with override_settings(**FAST):
        return services.model_retrain(actor="test", **kwargs)


def train_and_promote(creditor, clock, **kwargs):
    """Log decisions and retrain; returns the promoted model."""
    logged_decisions(creditor, clock, **kwargs)
    model = retrain(clock)
    assert model.status == "live", model.status_reason
    return model


def test_retraining_needs_enough_logs(creditor, library, clock):
    from recommender import services

    with override_settings(**FAST), pytest.raises(services.RetrainSkipped):
        services.model_retrain(actor="test")


def test_retraining_options_given_as_values_replace_the_settings(creditor, library, clock):
    from recommender import learning, services

    logged_decisions(creditor, clock)  # enough for the settings (FAST: 20 rows)
    strict = services.RetrainOptions.from_settings(reward_delay_days=0, min_rows=10_000)
    with override_settings(**FAST):
        assert services.RetrainOptions.from_settings().min_rows == 20
    with pytest.raises(services.RetrainSkipped, match="at least 10000"):
        retrain(clock, options=strict)
    lenient = services.RetrainOptions.from_settings(
        reward_delay_days=0, min_rows=20, learner={"max_iter": 30}
    )
    model = retrain(clock, options=lenient, promote=False)
    assert model.metrics["train_rows"] > 0
    assert model.status == "candidate"
    policy = learning.Policy.from_bytes(bytes(model.artifact))
    assert policy.meta["config"]["max_iter"] == 30  # the learner knobs given, not the setting


def test_the_first_model_goes_live_with_its_metrics_and_workers_load_it(
    creditor, library, clock, django_assert_num_queries
):
    from recommender import features as F
    from recommender import services

    model = train_and_promote(creditor, clock)
    m = model.metrics
    assert model.feature_version == F.FEATURE_VERSION and model.rows_used >= 20
    assert bytes(model.artifact)[:2] == b"PK"  # an .npz archive, never a pickle
    assert m["vs_live"] is None
    assert model.status_reason.startswith("No live model of this feature version to compare with.")
    for key in ("holdout_log_loss", "value", "vs_random", "fit_seconds"):
        assert key in m
    assert m["vs_random"]["lower"] <= m["vs_random"]["difference"] <= m["vs_random"]["upper"]
    loaded = services.policy_live(max_age=0)
    assert loaded is not None and loaded.label == model.label
    with django_assert_num_queries(0):  # a cached version check, no reload
        assert services.policy_live(max_age=3600) is loaded


def test_a_worse_candidate_is_rejected_and_the_live_model_stays(creditor, library, clock, settings):
    from recommender import selectors

    first = train_and_promote(creditor, clock)
    logged_decisions(creditor, clock, start=200)
    settings.RECOMMENDER_PROMOTION_TOLERANCE = -1.0  # demand +100 points of conversion
    second = retrain(clock)
    assert second.status == "rejected"
    assert second.metrics["vs_live"]["model"] == first.label
    assert selectors.model_live().pk == first.pk
    # The evidence and the test's power are in the reason an operator reads.
    test = second.metrics["vs_live"]["test"]
    assert second.status_reason.startswith("Worse than the live model: value ")
    assert f"on {second.metrics['vs_live']['n']:,} rows" in second.status_reason
    if test["se"] == 0:  # the two models chose alike on every compared row
        assert "chose alike on every one of them" in second.status_reason
    else:
        assert f"10% worse {test['power']:.0%} of the time" in second.status_reason


def test_a_promotion_records_its_evidence_and_the_power_of_its_test(creditor, library, clock):
    from recommender import evaluation

    first = train_and_promote(creditor, clock)
    # Now e-mail converts where SMS did before: the two fits disagree, so the test sees something.
    logged_decisions(creditor, clock, n=120, start=200, convert=lambda m: m.channel == "email")
    second = retrain(clock)
    vs_live = second.metrics["vs_live"]
    assert second.status == "live" and vs_live["model"] == first.label
    test = vs_live["test"]
    # The standard error is the interval's, and the power is the rule's own arithmetic.
    assert test["se"] == pytest.approx((vs_live["upper"] - vs_live["lower"]) / (2 * evaluation.Z95))
    assert test["drop"] == pytest.approx(0.10 * vs_live["value_b"])
    assert second.status_reason.startswith("Not worse than the live model: value ")
    shown = evaluation.promotion_power_text(second.metrics)
    # Planning's draws are not seeded here: now and then the two fits still choose alike on
    # every held-out row, and then no power is claimed.
    if test["se"] == 0:
        assert test["power"] is None
        assert "chose alike on every one of them" in second.status_reason
        assert shown.startswith("none: the models chose alike")
    else:
        assert 0 <= test["power"] <= 1
        assert "; this test catches a candidate 10% worse " in second.status_reason
        assert shown.startswith(f"{test['power']:.0%} for a 10%")


def test_a_promoted_candidate_goes_live_refitted_on_every_row_and_the_next_test_skips_them(
    creditor, library, clock
):
    """The comparison is made with the fit on the oldest rows; what goes live is the learner
    refitted on all of them (the holdout too), and its horizon moves to the newest row, so
    the next night compares only on rows neither model was fitted on."""
    from recommender import learning, selectors

    first = train_and_promote(creditor, clock)
    logs = selectors.decision_logs(until=first.trained_at)
    refit = first.metrics["refit"]
    assert refit["rows"] == first.rows_used == logs.n
    assert refit["evaluated_rows"] == first.metrics["train_rows"] < logs.n
    assert first.data_until.timestamp() == pytest.approx(logs.decided_at[-1])
    assert learning.Policy.from_bytes(bytes(first.artifact)).meta["n_rows"] == logs.n
    assert first.status_reason.endswith(
        f" Live: refit on {logs.n:,} rows; evaluated: fit on {refit['evaluated_rows']:,}."
    )
    logged_decisions(creditor, clock, n=120, start=200, convert=lambda m: m.channel == "email")
    second = retrain(clock)
    assert second.status == "live"
    newer = selectors.decision_logs(until=second.trained_at).decided_at
    unseen = int((newer[second.metrics["train_rows"] :] > first.data_until.timestamp()).sum())
    assert second.metrics["vs_live"]["n"] == unseen
    assert second.status_reason.endswith(
        f" Live: refit on {second.rows_used:,} rows, blended 50% with the last; compared: fit "
        f"on {second.metrics['train_rows']:,}."
    )


def test_the_model_that_goes_live_is_the_nights_refit_blended_with_the_live_one(
    creditor, library, clock
):
    """An exponential moving average of the nightly reward models: what goes live scores
    every action by half the night's refit and half the model it replaces (logits)."""
    from recommender import features as F
    from recommender import learning, selectors, services

    first = train_and_promote(creditor, clock)
    assert "blend" not in first.metrics  # nothing live to blend with
    logged_decisions(creditor, clock, n=120, start=200, convert=lambda m: m.channel == "email")
    second = retrain(clock)
    assert second.status == "live"
    assert second.metrics["blend"] == {"weight": 0.5, "with": first.label}
    assert ", blended 50% with the last; compared: " in second.status_reason
    logs = selectors.decision_logs(until=second.trained_at)
    refit = learning.fit_policy(
        logs.X, logs.actions, logs.rewards, logs.propensities, n_actions=F.N_ACTIONS,
        action_features=F.action_features(), random_state=0, config=services.learner_config(),
    )  # fmt: skip
    old = learning.Policy.from_bytes(bytes(first.artifact))
    live = learning.Policy.from_bytes(bytes(second.artifact))

    def logits(policy):
        q = policy.expected_rewards(logs.X)
        return np.log(q / (1 - q))

    assert np.allclose(logits(live), 0.5 * logits(refit) + 0.5 * logits(old), atol=1e-6)
    assert not np.allclose(logits(live), logits(refit), atol=1e-3)  # the blend did something
    # With a weight of 1 the night's fit goes live as it is.
    logged_decisions(creditor, clock, n=40, start=400)
    with override_settings(**FAST):
        alone = services.RetrainOptions.from_settings(blend_weight=1.0)
    third = retrain(clock, options=alone)
    assert third.status == "live" and "blend" not in third.metrics


def test_without_refitting_the_live_model_is_the_one_compared(creditor, library, clock):
    from recommender import services

    logged_decisions(creditor, clock)
    with override_settings(**FAST):
        options = services.RetrainOptions.from_settings(refit_on_promotion=False)
    model = retrain(clock, options=options)
    assert model.status == "live" and "refit" not in model.metrics
    assert model.rows_used == model.metrics["train_rows"]
    assert model.status_reason == "No live model of this feature version to compare with."


def _retrained_in_parallel(creditor, clock):
    """A first retraining with `RetrainOptions.parallel_refit`: the model, which went live
    refitted on every row, the logs it read, and the options."""
    from recommender import selectors, services

    logged_decisions(creditor, clock)
    with override_settings(**FAST):
        options = services.RetrainOptions.from_settings(parallel_refit=True)
    model = retrain(clock, options=options)
    assert model.status == "live" and model.metrics["refit"]["rows"] == model.rows_used
    return model, selectors.decision_logs(until=model.trained_at), options


def test_a_refit_started_in_a_second_process_is_the_same_model(
    creditor, library, clock, monkeypatch
):
    """`RetrainOptions.parallel_refit`: the refit runs in another process while the candidate
    is evaluated, and what goes live is the policy a refit here gives, to the bit."""
    from django.utils import timezone

    from recommender import features as F
    from recommender import learning, services
    from recommender.services import retraining

    started, prepare = [], retraining._refit_prepare

    def spy(*args, **kwargs):
        every_row, job = prepare(*args, **kwargs)
        started.append(job is not None)
        return every_row, job

    monkeypatch.setattr(retraining, "_refit_prepare", spy)
    model, logs, options = _retrained_in_parallel(creditor, clock)
    assert started == [True]
    assert model.rows_used == logs.n > model.metrics["train_rows"]
    here = learning.fit_policy(
        logs.X, logs.actions, logs.rewards, logs.propensities, n_actions=F.N_ACTIONS,
        action_features=F.action_features(), random_state=0, config=services.learner_config(),
    )  # fmt: skip
    there = learning.Policy.from_bytes(bytes(model.artifact))
    assert np.array_equal(there.expected_rewards(logs.X), here.expected_rewards(logs.X))
    # A candidate that is not promoted drops the refit started for it.
    logged_decisions(creditor, clock, start=200)
    clock.move_to(timezone.now() + timedelta(days=2))
    with override_settings(**{**FAST, "RECOMMENDER_MIN_LIVE_COMPARISON_ROWS": 10_000}):
        waiting = services.model_retrain(actor="test", options=options)
    assert waiting.status == "candidate" and "refit" not in waiting.metrics
    assert started == [True, True]


def test_a_refit_whose_second_process_died_is_made_here(creditor, library, clock, monkeypatch):
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from recommender import learning
    from recommender.services import background

    def died(args, kwargs):
        job = Future()
        job.set_exception(BrokenProcessPool("the process was killed"))
        return job

    monkeypatch.setattr(background, "fit_start", died)
    model, logs, _options = _retrained_in_parallel(creditor, clock)
    assert learning.Policy.from_bytes(bytes(model.artifact)).meta["n_rows"] == logs.n


def test_a_rejected_or_waiting_candidate_is_not_refitted(creditor, library, clock, settings):
    from django.utils import timezone

    from recommender import services

    train_and_promote(creditor, clock)
    logged_decisions(creditor, clock, start=200)
    clock.move_to(timezone.now() + timedelta(days=2))
    with override_settings(**{**FAST, "RECOMMENDER_MIN_LIVE_COMPARISON_ROWS": 10_000}):
        waiting = services.model_retrain(actor="test")
    assert waiting.status == "candidate" and "refit" not in waiting.metrics
    assert waiting.rows_used == waiting.metrics["train_rows"]
    logged_decisions(creditor, clock, start=300)
    settings.RECOMMENDER_PROMOTION_TOLERANCE = -1.0  # demand +100 points of conversion
    rejected = retrain(clock)
    assert rejected.status == "rejected" and "refit" not in rejected.metrics
    assert rejected.rows_used == rejected.metrics["train_rows"]


def test_a_candidate_waits_until_enough_logs_neither_model_was_fitted_on(creditor, library, clock):
    from django.utils import timezone

    from recommender import evaluation, selectors, services

    first = train_and_promote(creditor, clock)
    logged_decisions(creditor, clock, start=200)
    clock.move_to(timezone.now() + timedelta(days=2))
    with override_settings(**{**FAST, "RECOMMENDER_MIN_LIVE_COMPARISON_ROWS": 10_000}):
        second = services.model_retrain(actor="test")
    vs_live = second.metrics["vs_live"]
    assert second.status == "candidate" and vs_live["difference"] is None
    # Only the holdout rows decided after the live model's training data count.
    assert 0 < vs_live["n"] < second.metrics["holdout_rows"] + 1
    assert second.status_reason.startswith(f"Kept as a candidate: {vs_live['n']:,} held-out")
    assert "10,000 are needed" in second.status_reason
    assert selectors.model_live().pk == first.pk
    # The admin list and the cockpit say it is waiting, not that its test had no power.
    shown = evaluation.promotion_power_text(second.metrics)
    assert shown == f"not compared yet: {vs_live['n']:,} unseen held-out rows"


def test_promotion_retires_the_old_model_and_rollback_restores_it(creditor, library, clock):
    from accounts.models import DomainError
    from recommender import services
    from recommender.models import ModelVersion

    first = train_and_promote(creditor, clock)
    with pytest.raises(DomainError):
        services.model_rollback(actor="test")  # nothing was live before the first
    logged_decisions(creditor, clock, n=5, start=300)  # new logs: a new model is worth training
    second = retrain(clock, days=1, promote=False)
    assert second.status == "candidate"
    services.model_promote(model=second, actor="test")
    first.refresh_from_db()
    assert first.status == "retired"
    assert services.policy_live(max_age=0).label == second.label
    clock.shift(timedelta(days=1))
    back = services.model_rollback(actor="test")
    assert back.pk == first.pk
    assert ModelVersion.objects.get(pk=second.pk).status == "retired"
    assert services.policy_live(max_age=0).label == first.label


def test_a_tampered_or_foreign_artifact_is_never_used(creditor, library, clock):
    from recommender import services
    from recommender.models import ArtifactError, ModelVersion

    model = train_and_promote(creditor, clock)
    ModelVersion.objects.filter(pk=model.pk).update(artifact=b"PK" + bytes(model.artifact)[2:-4])
    with pytest.raises(ArtifactError, match="checksum"):
        services.model_load(model=ModelVersion.objects.get(pk=model.pk))
    ModelVersion.objects.filter(pk=model.pk).update(feature_version=99)
    services.policy_forget()
    assert services.policy_live(max_age=0) is None  # logged, and planning goes on uniform


def test_decision_logs_are_read_in_chunks_newest_first_and_bounded(creditor, library, clock):
    from django.utils import timezone

    from recommender import selectors

    logged_decisions(creditor, clock, n=12)
    until = timezone.now() + timedelta(days=3)
    everything = selectors.decision_logs(until=until, chunk=1000)
    assert everything.n == 12
    chunked = selectors.decision_logs(until=until, chunk=5)
    assert np.array_equal(chunked.actions, everything.actions)
    assert np.allclose(chunked.X, everything.X)
    bounded = selectors.decision_logs(until=until, chunk=5, max_rows=7)
    assert bounded.n == 7
    assert np.all(np.diff(bounded.decided_at) >= 0)
    assert np.array_equal(bounded.actions, everything.actions[-7:])  # the newest seven
    assert everything.rewards.sum() == sum(1 for a in everything.actions if _is_sms(a))


def _is_sms(action: int) -> bool:
    from recommender import features as F

    return F.ACTIONS[action].channel == "sms"


def test_schedules_exist_once_each():
    from django_q.models import Schedule

    names = list(
        Schedule.objects.filter(name__startswith="recommender.").values_list("name", "func")
    )
    assert sorted(names) == [
        ("recommender.plan_contacts", "recommender.tasks.plan_contacts_task"),
        ("recommender.retrain", "recommender.tasks.model_retrain_task"),
        ("recommender.typology_refresh", "recommender.tasks.typology_refresh_task"),
    ]


def test_schedule_migration_is_idempotent():
    from importlib import import_module

    from django.apps import apps
    from django_q.models import Schedule

    migration = import_module("recommender.migrations.0002_schedules")
    migration.create(apps, None)
    migration.create(apps, None)
    assert Schedule.objects.filter(name="recommender.retrain").count() == 1


def test_retrain_command_and_task_report_what_they_did(creditor, library, clock):
    import json
    from io import StringIO

    from django.core.management import call_command

    from recommender import tasks
    from recommender.models import ModelVersion

    with override_settings(**FAST):
        assert "skipped" in tasks.model_retrain_task()
        skipped = StringIO()
        call_command("retrain", stdout=skipped)  # too little data: a message, not an error
        assert skipped.getvalue().startswith("Not retrained:")
        assert "at least 20" in skipped.getvalue()
        assert not ModelVersion.objects.exists()
    logged_decisions(creditor, clock)
    clock.shift(timedelta(days=2))
    out = StringIO()
    with override_settings(**FAST):
        call_command("retrain", "--no-promote", stdout=out)
    shown = json.loads(out.getvalue())
    assert shown["status"] == "candidate" and "vs_random" in shown["metrics"]
    assert "context_summary" not in shown["metrics"]


def test_the_hourly_task_plans_contacts(creditor, library, clock):
    from recommender import tasks

    place_accounts(creditor, 3)
    assert tasks.plan_contacts_task()["planned"] == 3
    assert tasks.plan_contacts_task()["planned"] == 0


def test_a_mistyped_learner_setting_is_a_clear_error_and_a_start_up_warning(settings):
    from django.core.exceptions import ImproperlyConfigured

    from recommender.checks import learner_config_check
    from recommender.services import learner_config

    settings.RECOMMENDER_LEARNER_CONFIG = {"max_iter": 80}
    assert learner_config().max_iter == 80
    assert learner_config_check() == []

    settings.RECOMMENDER_LEARNER_CONFIG = {"max_iter": 80, "max_iters": 90}
    with pytest.raises(ImproperlyConfigured, match="not LearnerConfig fields: \\['max_iters'\\]"):
        learner_config()
    (warning,) = learner_config_check()
    assert warning.id == "recommender.W001" and "max_iters" in warning.msg

    # A value unlike its default is named at start-up too, not by the first nightly fit.
    for bad, message in [
        ({"max_iter": "80"}, "max_iter must be like its default 250"),
        ({"max_iter": 80.5}, "max_iter must be like its default 250"),
        ({"loosen_se": True}, "loosen_se must be like its default 2.5"),
        ({"prior_grid": [1, "3"]}, "prior_grid must be like its default"),
        ({"knot_placement": 1}, "knot_placement must be like its default 'score'"),
    ]:
        settings.RECOMMENDER_LEARNER_CONFIG = bad
        with pytest.raises(ImproperlyConfigured, match=message):
            learner_config()
        (warning,) = learner_config_check()
        assert warning.id == "recommender.W001" and message in warning.msg

    # Grids may be lists; None stands for "chosen" where the default is None.
    settings.RECOMMENDER_LEARNER_CONFIG = {"power_grid": [0, 0.5], "propensity_power": None}
    assert learner_config().power_grid == (0, 0.5)

    settings.RECOMMENDER_LEARNER_CONFIG = ["max_iter"]
    with pytest.raises(ImproperlyConfigured, match="a mapping of LearnerConfig fields"):
        learner_config()


def test_the_learner_counts_the_control_arm_as_exploration(settings):
    # The control arm's uniform traffic explores every archetype already: the policy arm's
    # own uniform floor shrinks to the learner's minimum, unless the learner setting says
    # otherwise.
    from recommender.services import learner_config

    settings.RECOMMENDER_LEARNER_CONFIG = {}
    settings.RECOMMENDER_CONTROL_SHARE = 0.10
    assert learner_config().uniform_share == 0.10
    settings.RECOMMENDER_LEARNER_CONFIG = {"max_iter": 80}
    assert learner_config().uniform_share == 0.10
    settings.RECOMMENDER_LEARNER_CONFIG = {"uniform_share": 0.0}
    assert learner_config().uniform_share == 0.0


def test_retraining_on_logs_a_model_was_already_trained_on_is_skipped(creditor, library, clock):
    """A retried night, or a night with no decision newly old enough, would store the same
    model again; it is skipped, and the first new decision makes retraining worth it again."""
    from recommender import services
    from recommender.models import ModelVersion

    first = train_and_promote(creditor, clock)
    assert len(first.metrics["data_sha256"]) == 64
    with pytest.raises(services.RetrainSkipped, match=f"since model {first.label}"):
        retrain(clock, days=1)
    assert ModelVersion.objects.count() == 1
    # Other learner settings on the same logs are a different fit: it is trained.
    with override_settings(**FAST):
        other = services.RetrainOptions.from_settings(learner={"max_iter": 30})
    assert retrain(clock, days=0, options=other).pk != first.pk
    logged_decisions(creditor, clock, n=5, start=300)
    assert retrain(clock).metrics["data_sha256"] != first.metrics["data_sha256"]
    assert ModelVersion.objects.count() == 3


def test_retraining_waits_until_the_logs_have_grown_by_the_configured_share(
    creditor, library, clock
):
    """With RECOMMENDER_RETRAIN_MIN_NEW_SHARE a night is skipped until the decisions newer
    than the live model's training data are that share of the rows it was fitted on."""
    from io import StringIO

    from django.core.management import call_command

    from recommender import services, tasks
    from recommender.models import ModelVersion

    first = train_and_promote(creditor, clock)
    with override_settings(**FAST):
        grown = services.RetrainOptions.from_settings(min_new_share=0.5)
    assert first.rows_used == 40
    logged_decisions(creditor, clock, n=12, start=300)
    with pytest.raises(
        services.RetrainSkipped,
        match=f"12 logged decisions are newer than "
        f"live model {first.label}'s training data; a new fit waits for 20",
    ):
        retrain(clock, options=grown)
    assert ModelVersion.objects.count() == 1
    # The nightly task and the command wait too; an operator's explicit retrain does not.
    with override_settings(**{**FAST, "RECOMMENDER_RETRAIN_MIN_NEW_SHARE": 0.5}):
        assert "a new fit waits for 20" in tasks.model_retrain_task()["skipped"]
        out = StringIO()
        call_command("retrain", stdout=out)
        assert out.getvalue().startswith("Not retrained: 12 logged decisions are newer")
        assert ModelVersion.objects.count() == 1
        call_command("retrain", "--now", "--no-promote", stdout=StringIO())
        assert ModelVersion.objects.count() == 2
        # Past the wait, the task finds the logs that candidate was just fitted on.
        skipped = tasks.model_retrain_task(wait_for_growth=False)["skipped"]
        assert "have not changed since model" in skipped
    logged_decisions(creditor, clock, n=8, start=400)
    second = retrain(clock, options=grown)
    assert second.status == "live" and second.rows_used > first.rows_used
    # Production waits for a fifth more; 0 fits every night.
    assert services.RetrainOptions.from_settings().min_new_share == 0.2
    with override_settings(RECOMMENDER_RETRAIN_MIN_NEW_SHARE=0):
        assert services.RetrainOptions.from_settings().min_new_share == 0
    # A share that is not a number at least 0 is a clear error, and a start-up warning.
    from django.core.exceptions import ImproperlyConfigured

    from recommender.checks import retrain_options_check

    assert retrain_options_check() == []
    for bad in (float("nan"), -0.1, float("inf"), "a fifth", None):
        with override_settings(RECOMMENDER_RETRAIN_MIN_NEW_SHARE=bad):
            with pytest.raises(ImproperlyConfigured, match="must be a number at least 0"):
                services.RetrainOptions.from_settings()
            (warning,) = retrain_options_check()
            assert warning.id == "recommender.W003"


def test_arm_shares_that_leave_the_policy_no_traffic_are_a_clear_error_and_a_warning(settings):
    from django.core.exceptions import ImproperlyConfigured

    from recommender.checks import arm_shares_check
    from recommender.services.planning import arm_shares

    settings.RECOMMENDER_CONTROL_SHARE, settings.RECOMMENDER_SEND_TIME_SHARE = 0.1, 0.3
    assert arm_shares() == (0.1, 0.3) and arm_shares_check() == []
    settings.RECOMMENDER_SEND_TIME_SHARE = 0.9
    with pytest.raises(ImproperlyConfigured, match="together below 1"):
        arm_shares()
    (warning,) = arm_shares_check()
    assert warning.id == "recommender.W002" and "RECOMMENDER_SEND_TIME_SHARE (0.9)" in warning.msg
    settings.RECOMMENDER_SEND_TIME_SHARE = -0.1
    with pytest.raises(ImproperlyConfigured):
        arm_shares()
