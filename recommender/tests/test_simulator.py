"""The simulator runs the real pipeline on a small world and reports per arm and per week."""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import numpy as np
import pytest

from recommender import simulator


def test_the_simulated_backend_does_not_import_messagings_backends():
    package = Path(inspect.getfile(simulator)).parent
    files = sorted(package.glob("*.py"))
    assert {f.name for f in files} >= {"__init__.py", "backend.py", "run.py"}
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for path in files
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert "accounts.regions" in imported  # the scan sees every module's imports
    assert not [m for m in imported if m and m.startswith("messaging.backends")]


def test_world_ground_truth_rewards_the_matching_tone_and_channel():
    world = simulator.World(200, seed=3)
    from recommender import features as F

    emotional = int(world.emotional.argmax())
    warm = F.action_index(tone="empathetic", cta="pay_in_full", channel="email", bucket=0)
    cold = F.action_index(tone="firm", cta="pay_in_full", channel="email", bucket=0)
    assert world.conversion_probability(emotional, warm, 0) > world.conversion_probability(
        emotional, cold, 0
    )
    probs = [world.conversion_probability(i, warm, 0) for i in range(200)]
    assert min(probs) > 0 and max(probs) < 1


def test_the_worlds_truth_for_a_whole_planning_run_matches_it_decision_by_decision():
    import numpy as np

    from recommender import features as F

    world = simulator.World(120, seed=5)
    debtors = np.arange(0, 120, 7)
    sends = np.arange(debtors.size) % 13  # fatigue up to and past its cap of 10
    matrix = world.conversion_probabilities(debtors, sends)
    one_by_one = [
        [world.conversion_probability(int(i), a, int(k)) for a in range(F.N_ACTIONS)]
        for i, k in zip(debtors, sends, strict=True)
    ]
    assert matrix.shape == (debtors.size, F.N_ACTIONS)
    np.testing.assert_allclose(matrix, one_by_one, rtol=1e-12, atol=0)


@pytest.fixture
def simulator_settings(settings):
    """Messaging's settings the simulator runs under, as `manage.py simulate` applies them."""
    for name, value in simulator.SIMULATOR_SETTINGS.items():
        setattr(settings, name, value)
    return settings


@pytest.mark.django_db
def test_a_small_simulation_sends_reacts_and_summarises(tmp_path, simulator_settings):
    config = simulator.SimulationConfig(
        debtors=40, days=3, seed=2, retrain=False, png=tmp_path / "curve.png", progress=False,
        placement_days=2, export=tmp_path / "logs.npz",
    )  # fmt: skip
    summary = simulator.simulate(config)
    total = summary["total"]
    sends = total["policy"]["sends"] + total["control"]["sends"]
    assert sends >= 20  # nearly every debtor got a first contact
    assert total["policy"]["opens"] + total["control"]["opens"] > 0
    assert set(summary["weeks"]) == {"0"}
    assert "conversion" in total["uplift_vs_random"]
    truth = summary["true_expected_conversion"]["total"]
    assert truth["uniform"] <= truth["best"]
    assert (tmp_path / "curve.png").stat().st_size > 1000
    assert summary["learning_curve_png"] == str(tmp_path / "curve.png")
    from messaging.models import Message

    assert Message.objects.filter(sent_at__isnull=False).count() == sends
    assert not Message.objects.filter(provider="").exclude(sent_at=None).exists()
    # The export: every sent decision, as each stored row unpacks, with the world's truth.
    from recommender import features as F
    from recommender.models import Decision

    logs = np.load(tmp_path / "logs.npz")
    rows = Decision.objects.filter(message__sent_at__isnull=False).order_by("decided_at", "id")
    assert logs["X"].shape == (sends, F.N_FEATURES) and logs["X"].dtype == np.float64
    for i, row in enumerate(rows):
        assert np.array_equal(logs["X"][i], Decision.unpack_context(row.context, F.N_FEATURES))
        assert np.array_equal(
            logs["eligible"][i], Decision.unpack_eligible(row.eligible, F.N_ACTIONS)
        )
    assert logs["actions"].tolist() == [r.action for r in rows]
    assert logs["truth"].shape == (sends, F.N_ACTIONS)


@pytest.mark.django_db
def test_a_simulation_with_a_send_time_arm_says_what_choosing_the_hour_is_worth(
    simulator_settings,
):
    config = simulator.SimulationConfig(
        debtors=60, days=2, seed=2, retrain=False, png=None, progress=False, placement_days=1,
        send_time_share=0.4,
    )  # fmt: skip
    summary = simulator.simulate(config)
    total = summary["total"]
    assert summary["config"]["send_time_share"] == 0.4
    assert total["send_time"]["sends"] > 5 and total["policy"]["sends"] > 5
    uplift = total["uplift_vs_random_send_time"]["conversion"]
    assert {"value", "lower", "upper"} <= set(uplift)
    from recommender.models import Decision

    assert Decision.objects.filter(arm="send_time").count() == total["send_time"]["sends"]


@pytest.mark.django_db
def test_a_run_without_decisions_names_no_learning_curve(tmp_path, simulator_settings):
    # One debtor for one day: nobody is due a contact yet, so there is no curve to draw.
    config = simulator.SimulationConfig(
        debtors=1, days=1, seed=1, retrain=False, png=tmp_path / "curve.png", progress=False
    )
    summary = simulator.simulate(config)
    assert summary["planning"]["planned"] == 0
    assert summary["learning_curve_png"] is None
    assert not (tmp_path / "curve.png").exists()


@pytest.mark.django_db
def test_the_simulator_refuses_to_run_with_a_real_channel_backend(simulator_settings):
    from django.core.exceptions import ImproperlyConfigured

    simulator_settings.MESSAGING_SMS_BACKEND = "messaging.backends.sms.FileSmsBackend"
    config = simulator.SimulationConfig(debtors=5, days=1, progress=False, png=None)
    with pytest.raises(ImproperlyConfigured, match="MESSAGING_SMS_BACKEND"):
        simulator.simulate(config)
    from accounts.models import Creditor

    assert not Creditor.objects.exists()  # refused before anything was written


def test_the_simulators_nightly_retraining_is_given_as_values_not_settings(settings):
    from recommender import services

    options = services.RetrainOptions.from_settings(**simulator.SimulationConfig().retrain_options)
    assert options.reward_delay_days == 2 and options.min_rows == 1000
    assert options.max_rows == 30_000
    # The learner as production runs it, whatever this deployment's RECOMMENDER_LEARNER_CONFIG.
    settings.RECOMMENDER_LEARNER_CONFIG = {"max_iter": 30}
    learner = services.learner_config(options.learner)
    assert learner == services.learner_config({})
    assert learner.max_iter == 250 and learner.small_log_rows == 10_000
    assert options.chunk == settings.RECOMMENDER_TRAIN_CHUNK  # the rest as configured
    assert not any(name.startswith("RECOMMENDER_") for name in simulator.SIMULATOR_SETTINGS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--debtors", "-5"], "--debtors must be at least 1"),
        (["--days", "0"], "--days must be at least 1"),
        (["--seed", "-1"], "--seed must be at least 0"),
        (["--png", "/proc/no-such-dir/curve.png"], "--png: cannot write"),
        (["--send-time-share", "0.95"], "--send-time-share must be at least 0 and below 0.9"),
        (["--send-time-share", "-0.1"], "--send-time-share must be at least 0"),
        (["--learner", '{"nope": 1}'], "not LearnerConfig fields: \\['nope'\\]"),
        (["--learner", '{"loosen_se": "x"}'], "loosen_se must be like its default 2.5"),
        (["--learner", '{"prior_grid": [1, "a"]}'], "prior_grid must be like its default"),
        (["--learner", '{"max_iter": 80.5}'], "max_iter must be like its default 250"),
        (["--learner", "[1]"], "a JSON object of LearnerConfig fields is needed"),
        (["--learner", "{x"], "--learner: not JSON"),
    ],
)
def test_simulate_command_refuses_bad_arguments_before_running(args, message, monkeypatch):
    from io import StringIO

    from django.core.management import CommandError, call_command

    monkeypatch.setattr(simulator, "simulate", lambda config: pytest.fail("ran anyway"))
    with pytest.raises(CommandError, match=message):
        call_command("simulate", *args, "--quiet", stdout=StringIO())


def test_simulate_learner_settings_go_over_the_nightly_retrainings_own(tmp_path, monkeypatch):
    from io import StringIO

    from django.core.management import call_command

    from recommender import services
    from recommender.management.commands import simulate as command

    seen = []
    monkeypatch.setattr(simulator, "simulate", lambda config: seen.append(config) or {})
    monkeypatch.setattr(command, "setup_databases", lambda **kwargs: None)
    monkeypatch.setattr(command, "teardown_databases", lambda old, **kwargs: None)
    call_command(
        "simulate", "--learner", '{"loosen_se": 0, "prior_grid": [0.1, 1]}', "--quiet",
        "--png", str(tmp_path / "curve.png"), stdout=StringIO(),
    )  # fmt: skip
    learner = services.learner_config(seen[0].retrain_options["learner"])
    assert learner.loosen_se == 0 and learner.prior_grid == (0.1, 1)
    assert learner.max_iter == 250  # the rest are the learner's defaults
    assert simulator.SIMULATOR_RETRAIN["learner"] == {}  # left as it was


@pytest.mark.django_db
def test_the_summary_gives_the_gap_closed_per_week_beside_the_offline_learner(
    tmp_path, simulator_settings
):
    config = simulator.SimulationConfig(
        debtors=60, days=9, seed=4, png=tmp_path / "curve.png", progress=False,
        placement_days=2,
        retrain_options={**simulator.SIMULATOR_RETRAIN, "min_rows": 20, "max_rows": 5_000},
    )  # fmt: skip
    summary = simulator.simulate(config)
    gap = summary["gap_closed"]
    assert set(gap["weeks"]) == {"0", "1"}
    total = gap["total"]
    assert total["decisions"] == sum(w["decisions"] for w in gap["weeks"].values()) > 0
    for name in ("deployed", "offline_all_logs", "offline_all_logs_greedy"):
        assert total[name] is not None and -5 < total[name] < 1.0001, (name, total)
    assert total["deployed_se"] > 0
    assert isinstance(gap["falls"], list)
    # Each night's model says what its fit chose, so a run shows how steady the choices are.
    assert summary["models"]
    for model in summary["models"]:
        choice = model["choice"]
        assert choice["family"] in ("linear", "relevance", "nonlinear"), choice
        assert choice["prior_shared"] > 0 and choice["propensity_power"] in (0.0, 0.5, 1.0)


def _sequences_reset():
    """Every id sequence to just past its table's largest id (PostgreSQL's sequences do not
    roll back with the rows; SQLite needs nothing)."""
    from django.apps import apps
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), apps.get_models()):
            cursor.execute(sql)


def _run_in_a_fresh_database(config):
    """One simulation whose writes are then rolled back, starting with the id sequences just
    past the tables' ids: each run starts from the same database, as two `manage.py simulate`
    runs do from their fresh throwaway ones."""
    from django.core.cache import cache
    from django.db import transaction

    from compliance.selectors import rules_cache_reset

    cache.clear()
    rules_cache_reset()
    _sequences_reset()
    with transaction.atomic():
        summary = simulator.simulate(config)
        transaction.set_rollback(True)
    return summary


@pytest.mark.django_db
def test_the_same_seed_gives_the_same_summary_bit_for_bit(simulator_settings):
    config = simulator.SimulationConfig(
        debtors=30, days=5, seed=3, png=None, progress=False, placement_days=2,
        send_time_share=0.2,
        retrain_options={**simulator.SIMULATOR_RETRAIN, "min_rows": 20, "max_rows": 5_000},
    )  # fmt: skip
    first = simulator.dump(_run_in_a_fresh_database(config))
    second = simulator.dump(_run_in_a_fresh_database(config))
    summary = json.loads(first)
    assert summary["models"], "the run must retrain, so the fits are compared too"
    assert summary["total"]["policy"]["sends"] > 0
    assert first == second


def test_the_gap_shares_standard_error_is_how_much_it_varies_between_samples():
    from recommender.simulator.report import _share_se

    rng = np.random.default_rng(5)

    def sample(n):
        uniform = rng.uniform(0.02, 0.06, n)
        best = uniform + rng.uniform(0.02, 0.15, n)
        chosen = uniform + rng.beta(2, 3, n) * (best - uniform)
        return chosen, uniform, best

    def share(chosen, uniform, best):
        return (chosen - uniform).mean() / (best - uniform).mean()

    shares = [share(*sample(400)) for _ in range(2_000)]
    se = _share_se(*(list(a) for a in sample(400)))
    assert se == pytest.approx(float(np.std(shares)), rel=0.15)
    # Every decision closing the same share of its own gap: no sampling noise at all.
    uniform, best = np.full(50, 0.03), np.linspace(0.05, 0.2, 50)
    assert _share_se(list(uniform + 0.4 * (best - uniform)), list(uniform), list(best)) == 0
    assert _share_se([0.1], [0.05], [0.2]) is None
    assert _share_se([0.1, 0.1], [0.1, 0.1], [0.1, 0.1]) is None  # no gap to close


def test_falls_weigh_each_drop_against_the_two_weeks_noise_and_the_fixed_policy():
    from recommender.simulator.report import _falls

    def week(deployed, se, offline):
        return {"deployed": deployed, "deployed_se": se, "offline_all_logs": offline}

    weeks = {
        "0": week(0.10, 0.01, 0.30),
        "1": week(0.40, 0.01, 0.31),  # a rise: not a fall
        "2": week(0.35, 0.01, 0.26),  # 0.05 down, noise 0.028: beyond it; offline fell too
        "3": week(0.34, 0.02, None),  # 0.01 down, noise 0.044: within it; no offline
        "4": week(None, None, None),
        "5": week(0.20, 0.01, 0.2),  # no week before it to compare with
    }
    assert _falls(weeks) == [
        {"week": "2", "drop": 0.05, "noise_95": 0.0277, "beyond_noise": True,
         "offline_change": -0.05},
        {"week": "3", "drop": 0.01, "noise_95": 0.0438, "beyond_noise": False,
         "offline_change": None},
    ]  # fmt: skip
