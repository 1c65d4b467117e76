"""The learner's second process ends soon after the process that started it is killed."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended; only its parent has not collected it yet


def test_the_second_process_ends_when_its_parent_is_killed_mid_work():
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import multiprocessing, time

            import django

            django.setup()
            from recommender.services import background

            job = background.pool().submit(time.sleep, 120)  # a long fit, as far as it knows
            while not multiprocessing.active_children():
                time.sleep(0.05)
            time.sleep(0.5)  # the worker has taken the job
            print(*(p.pid for p in multiprocessing.active_children()), flush=True)
            time.sleep(120)
        """)],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "collections_site.settings.base",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "test-only-" + "x" * 40),
        },
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    children: list[int] = []
    try:
        children = [int(pid) for pid in parent.stdout.readline().split()]
        assert children and all(_alive(pid) for pid in children)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in children), "the second process outlived its parent"
    finally:
        parent.kill()
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
