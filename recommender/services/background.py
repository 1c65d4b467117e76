"""The learner in a second process: the refit a night's retraining may start beside its
candidate's fit (`RetrainOptions.parallel_refit`).

The learner is Django-free, seeded and runs on one BLAS thread, so a fit there is the same
policy, to the bit, as the same fit here. The process is started once ("spawn": it inherits
no database connection) and kept for the next nights; a new one replaces it if it died.
It ends itself within a second when the process that started it is gone (killed, say),
rather than finishing a fit nobody will read.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from recommender import learning
from recommender.learning import worker

_POOL: ProcessPoolExecutor | None = None


def fit_start(args: tuple, kwargs: dict[str, Any]) -> Future | None:
    """`learning.fit_policy(*args, **kwargs)` started in the second process; None where this
    process may not start one (a daemonic process, such as a django-q worker): the caller
    then fits here, the same policy."""
    global _POOL
    if multiprocessing.current_process().daemon:
        return None
    for _attempt in range(2):
        try:
            return pool().submit(learning.fit_policy, *args, **kwargs)
        except BrokenProcessPool:  # the last process died (out of memory?): a new one
            _POOL = None
    raise BrokenProcessPool("the learner's second process could not be started")


def pool() -> ProcessPoolExecutor:
    """The second process (one worker), started if there is none."""
    global _POOL
    if _POOL is None:
        _POOL = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=worker.end_with_parent,
            initargs=(os.getpid(),),
        )
    return _POOL


def fit_result(job: Future) -> learning.Policy | None:
    """The policy `job` fitted; None if its process died before returning it (the caller
    then fits here: the same policy)."""
    global _POOL
    try:
        return job.result()
    except BrokenProcessPool:
        _POOL = None
        return None
