"""Serve the site and a django-q2 worker together, for `make run`; stop both cleanly.

The web server (`manage.py runserver`) and the worker (`manage.py qcluster`) each run in a
process group of their own, so that stopping is this script's job alone: on Ctrl-C (SIGINT)
or SIGTERM it asks both to stop with SIGTERM, gives them `GRACE_SECONDS` to finish, then
kills whatever is left of either group (a worker's task processes included). Nothing is lost
by the kill: tasks are idempotent and django-q2 hands an unfinished task out again.

Exit status: 0 when stopped by a signal (the stop was asked for), otherwise the status of
the process that ended first (e.g. 1 when the port is taken), after stopping the other.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GRACE_SECONDS = 7.0
POLL_SECONDS = 0.1


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a pid reused by another user's process: not ours any more
        return False
    return True


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def stop(processes: dict[str, subprocess.Popen], *, grace: float = GRACE_SECONDS) -> None:
    """SIGTERM each group's leader, wait up to `grace` seconds for the whole group to end,
    SIGKILL what is left, reap.

    Only the leader is asked: django-q2's cluster stops its own pusher, workers and monitor
    in order, and a signal sent to those directly can leave it waiting for them for minutes.
    """
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        for process in processes.values():
            process.poll()  # reap the leaders as they end
        if not any(_group_alive(p.pid) for p in processes.values()):
            return
        time.sleep(POLL_SECONDS)
    for name, process in processes.items():
        if _group_alive(process.pid):
            print(f"The {name} did not stop within {grace:.0f} s: killed.", flush=True)
            _signal_group(process.pid, signal.SIGKILL)
    for process in processes.values():
        process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="8000")
    args = parser.parse_args(argv)

    asked: list[int] = []

    def on_signal(signum: int, _frame) -> None:
        asked.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    python = sys.executable
    commands = {
        "worker": [python, "manage.py", "qcluster"],
        "web server": [python, "manage.py", "runserver", "--noreload", f"{args.host}:{args.port}"],
    }
    processes = {
        name: subprocess.Popen(command, cwd=ROOT, start_new_session=True)  # noqa: S603
        for name, command in commands.items()
    }
    ended: tuple[str, int] | None = None
    while not asked and ended is None:
        for name, process in processes.items():
            if process.poll() is not None:
                ended = (name, process.returncode)
                break
        else:
            time.sleep(POLL_SECONDS)
    if ended is not None:
        print(f"The {ended[0]} ended (exit status {ended[1]}); stopping the rest.", flush=True)
    else:
        print("\nStopping the web server and the worker...", flush=True)
    stop(processes)
    if ended is not None:
        return ended[1] if ended[1] > 0 else 1
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
