"""The decision logs retraining reads: counted before they are read, read a chunk at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from recommender.tests.test_models import FAST, logged_decisions, retrain, train_and_promote

FAST_OPTIONS = {"reward_delay_days": 0, "min_rows": 20, "min_new_share": 0.2}
"""A night's options in these tests: decisions count at once, a new fit on a fifth more."""


def _log_reads(queries: CaptureQueriesContext) -> list[str]:
    """The statements that read stored decision contexts (the logs themselves)."""
    return [q["sql"] for q in queries if '"recommender_decision"."context"' in q["sql"]]


@pytest.mark.django_db
def test_a_night_whose_logs_have_not_grown_enough_is_skipped_without_reading_them(
    creditor, library, clock
):
    from recommender import services

    first = train_and_promote(creditor, clock)
    logged_decisions(creditor, clock, n=12, start=300)
    with override_settings(**FAST):
        grown = services.RetrainOptions.from_settings(min_new_share=0.5)
    newer = f"12 logged decisions are newer than live model {first.label}'s training data"
    with CaptureQueriesContext(connection) as queries, pytest.raises(
        services.RetrainSkipped, match=newer
    ):  # fmt: skip
        retrain(clock, options=grown)
    assert _log_reads(queries) == []
    with CaptureQueriesContext(connection) as queries:
        second = retrain(clock, options=services.RetrainOptions.from_settings(**FAST_OPTIONS))
    assert second.status == "live" and _log_reads(queries)


@pytest.mark.django_db
def test_too_few_decisions_are_refused_from_the_count_with_the_same_message(
    creditor, library, clock
):
    from recommender import services

    logged_decisions(creditor, clock)
    options = services.RetrainOptions.from_settings(reward_delay_days=0, min_rows=41)
    with CaptureQueriesContext(connection) as queries, pytest.raises(
        services.RetrainSkipped, match=r"^40 logged decisions; at least 41 are needed\.$"
    ):  # fmt: skip
        retrain(clock, options=options)
    assert _log_reads(queries) == []


@pytest.mark.django_db
def test_the_count_agrees_with_the_rows_decision_logs_reads(creditor, library, clock):
    from django.utils import timezone

    from recommender import selectors

    logged_decisions(creditor, clock, n=12)
    logged_decisions(creditor, clock, n=9, start=100)
    until = timezone.now() + timedelta(days=3)
    logs = selectors.decision_logs(until=until)
    assert selectors.decision_logs_count(until=until) == (21, 21)
    middle = datetime.fromtimestamp(float(np.median(logs.decided_at)), tz=UTC)
    newer = int((logs.decided_at > middle.timestamp()).sum())
    assert 0 < newer < logs.n
    assert selectors.decision_logs_count(until=until, newer_than=middle) == (21, newer)
    before = datetime.fromtimestamp(float(logs.decided_at[0]), tz=UTC) - timedelta(seconds=1)
    assert selectors.decision_logs_count(until=before) == (0, 0)


@pytest.mark.django_db
def test_decision_logs_hold_what_each_stored_row_unpacks_to(creditor, library, clock):
    from django.utils import timezone

    from recommender import features as F
    from recommender import selectors
    from recommender.models import Decision

    logged_decisions(creditor, clock, n=15)
    logs = selectors.decision_logs(until=timezone.now() + timedelta(days=3), chunk=4)
    rows = Decision.objects.order_by("decided_at", "pk")
    assert logs.n == rows.count() == 15
    for i, row in enumerate(rows):
        assert np.array_equal(logs.X[i], Decision.unpack_context(row.context, F.N_FEATURES))
        assert np.array_equal(logs.eligible[i], Decision.unpack_eligible(row.eligible, F.N_ACTIONS))
        assert (logs.actions[i], logs.propensities[i]) == (row.action, row.propensity)
        assert logs.decided_at[i] == row.decided_at.timestamp()
        assert logs.arms[i] == (row.arm == "control")


def test_many_rows_unpack_as_each_row_does():
    from recommender.models import Decision

    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 5))
    E = rng.random((6, 13)) < 0.4
    contexts = [Decision.pack_context(x) for x in X]
    eligibles = [Decision.pack_eligible(e) for e in E]
    many = Decision.unpack_contexts(contexts, 5)
    assert many.dtype == np.float32 and many.shape == (6, 5)
    assert np.array_equal(many, np.stack([Decision.unpack_context(c, 5) for c in contexts]))
    assert np.array_equal(
        Decision.unpack_eligibles(eligibles, 13),
        np.stack([Decision.unpack_eligible(e, 13) for e in eligibles]),
    )
    # A longer blob gives its first items, as one row's unpacking does; a shorter one fails.
    assert np.array_equal(Decision.unpack_contexts([contexts[0] + b"\0" * 8], 5)[0], many[0])
    with pytest.raises(ValueError, match="fewer than 5 items"):
        Decision.unpack_contexts([contexts[0], contexts[1][:-4]], 5)
    assert Decision.unpack_contexts([], 5).shape == (0, 5)
    assert Decision.unpack_eligibles([], 13).shape == (0, 13)


def _fit_start_in_a_daemon(answers) -> None:
    from recommender.services import background

    answers.put(background.fit_start((), {}) is None)


def test_a_daemonic_process_fits_the_refit_itself_rather_than_start_a_second_one():
    """A django-q worker is a daemonic process, which may not start children: retraining
    with `parallel_refit` there (the demo history does) fits the refit in the worker."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    answers = ctx.Queue()
    worker = ctx.Process(target=_fit_start_in_a_daemon, args=(answers,), daemon=True)
    worker.start()
    worker.join(30)
    assert worker.exitcode == 0 and answers.get(timeout=5) is True
