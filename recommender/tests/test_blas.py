"""The recommender's processes run BLAS on one thread, unless the operator set its threads."""

import os

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from recommender.apps import BLAS_THREAD_VARIABLES, blas_single_threaded


def _blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


@pytest.mark.skipif(
    any(os.environ.get(name) for name in BLAS_THREAD_VARIABLES),
    reason="this environment sets BLAS's threads itself",
)
def test_a_process_that_loads_the_project_runs_blas_on_one_thread():
    assert _blas_threads() == {1}  # Django's set-up ran the recommender app's ready()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="BLAS keeps one thread on one core")
def test_an_operators_thread_setting_is_left_as_it_is():
    with threadpool_limits(limits=2, user_api="blas"):
        assert _blas_threads() == {2}
        assert blas_single_threaded({"OPENBLAS_NUM_THREADS": "2"}) is False
        assert _blas_threads() == {2}
        assert blas_single_threaded({"OMP_NUM_THREADS": ""}) is True  # empty: not set
        assert _blas_threads() == {1}
