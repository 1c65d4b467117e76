import os
from collections.abc import Mapping

from django.apps import AppConfig

# Variables that set BLAS's threads when the library loads; one set by the operator is left be.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def blas_single_threaded(environ: Mapping[str, str] = os.environ) -> bool:
    """Limit this process's BLAS to one thread (threadpoolctl), unless `environ` sets its
    threads; True if it did.

    The recommender's matrices are small (a batch's contexts times a model's weights): a
    second BLAS thread saves nothing on them, and its threads keep spinning on the cores
    after each product, taking them from the other planner, the dispatcher and PostgreSQL.
    Two planners on 2 cores planned 19-22% more accounts per second with one BLAS thread
    (docs/benchmarks.md, "Recommender"). The learner's fit already ran on one."""
    if any(environ.get(name) for name in BLAS_THREAD_VARIABLES):
        return False
    # Load both BLAS libraries first (numpy's, and scipy's own copy), so that threadpoolctl
    # finds them: it limits the libraries loaded when it is called.
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    return True


class RecommenderConfig(AppConfig):
    """Learns which variant, channel and send time works for which debtor."""

    name = "recommender"
    verbose_name = "Recommender"

    def ready(self) -> None:
        from recommender import checks  # noqa: F401  (registers the system checks)

        blas_single_threaded()
