"""gunicorn.conf.py's worker start-up: the heap frozen out of the collector's reach, and
garbage made afterwards collected as it would be without the freeze."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_WORKER = """
import gc, runpy, weakref

class Node:
    pass

def cycles(n):
    refs = []
    for _ in range(n):
        a, b = Node(), Node()
        a.other, b.other = b, a
        refs.append(weakref.ref(a))
    return refs

loaded = cycles(100)  # garbage left from start-up, before the freeze
conf = runpy.run_path("gunicorn.conf.py")
conf["post_worker_init"](None)
print(gc.get_freeze_count() > 0)
print(all(r() is None for r in loaded))  # collected before freezing, not frozen for good
later = cycles(100)  # a request's garbage
gc.collect()
print(all(r() is None for r in later))
"""


def test_a_worker_freezes_its_start_up_heap_and_still_collects_what_comes_later():
    run = subprocess.run(
        [sys.executable, "-c", _WORKER], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    frozen, startup_garbage_collected, later_garbage_collected = run.stdout.split()
    assert frozen == "True"
    assert startup_garbage_collected == "True"
    assert later_garbage_collected == "True"
