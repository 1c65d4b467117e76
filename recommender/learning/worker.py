"""What the learner's second process runs first (`recommender.services.background`).

Django-free: the process is started with "spawn", and imports only what it is handed.
"""

from __future__ import annotations

import os
import threading
import time


def end_with_parent(parent: int, every: float = 0.5) -> None:
    """Start a watch that ends this process once `parent` is no longer its parent.

    A pool's worker notices its parent's end only when it next waits for work, which is
    after the fit it is running, seconds to minutes later: a killed run would leave it
    finishing a fit nobody will read."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()
