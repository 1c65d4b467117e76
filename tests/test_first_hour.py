"""A newcomer's first hour, as the README tells it: `make setup` / `make run`, every command the
README shows, and stopping the demo.

These run the real Makefile and `manage.py` in subprocesses, against a throwaway SQLite
database, `.env` and outbox (so a developer's own files are never touched), from the project
folder as the README says. `make -o .venv/.synced` keeps make from reinstalling anything while
the suite runs: `make test` has installed from the lock file already.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAKE = ["make", "--no-print-directory", "-o", ".venv/.synced"]
# Commands the README shows that serve until stopped: started by `make run`, not run here.
SERVERS = {"qcluster", "runserver"}

pytestmark = pytest.mark.skipif(
    not (ROOT / ".venv" / "bin" / "python").exists(), reason="needs `make install` (.venv)"
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict[str, str]:
    """The environment of a fresh demo folder, set up once by `make setup`; what that printed
    is in `SETUP_OUTPUT`."""
    home = tmp_path_factory.mktemp("first-hour")
    drop = {"DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY", "REDIS_URL", "SITE_URL"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        ENV_FILE=str(home / ".env"),
        DATABASE_URL=f"sqlite:///{home / 'db.sqlite3'}",
        MESSAGING_OUTBOX_DIR=str(home / "outbox"),
        STATIC_ROOT=str(home / "static"),
    )
    setup = subprocess.run(
        [*MAKE, "setup"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr
    env["SETUP_OUTPUT"] = setup.stdout + setup.stderr
    return env


def test_setup_writes_a_development_env_file_once(demo):
    env_file = Path(demo["ENV_FILE"])
    text = env_file.read_text()
    assert "DEBUG=1" in text.splitlines()
    key = re.search(r"^SECRET_KEY=(\S+)$", text, re.MULTILINE).group(1)
    assert len(key) >= 50
    assert env_file.stat().st_mode & 0o077 == 0  # readable by its owner only
    again = subprocess.run(
        [*MAKE, "setup"], cwd=ROOT, env=demo, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert env_file.read_text() == text  # never overwritten
    assert "0 created, 0 updated, 200 unchanged" in again.stdout


def test_setup_prints_the_logins_and_a_portal_link_with_what_the_demo_check_asks(demo):
    out = demo["SETUP_OUTPUT"]
    assert "Admin login:   admin / admin" in out
    assert re.search(r"API key:\s+ck_[0-9a-f]{8}_[0-9a-f]{40} ", out)
    assert re.search(r"Portal link:\s+http://localhost:8000/p/\S+/", out)
    assert re.search(r"Demo only .* date of birth \d{4}-\d\d-\d\d .* postal code \S+", out)
    # The moderation e-mails of the seeded library went to files, not the console.
    assert "Content-Type:" not in out and "submitted for moderation" not in out
    assert list((Path(demo["MESSAGING_OUTBOX_DIR"]) / "mail").iterdir())


def _readme_commands() -> list[str]:
    """Every `manage.py` command in the README's shell blocks, without its comment."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.DOTALL)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            command = line.split("  #", 1)[0].strip()
            if "manage.py" in command:
                commands.append(command)
    return commands


def test_the_readme_shows_its_commands_as_they_are_typed():
    commands = _readme_commands()
    assert len(commands) >= 8
    for command in commands:
        assert command.startswith(".venv/bin/python manage.py "), command
        assert not re.search(r"[\[\]<>]|\bFILE\b|\bSLUG\b", command), command  # no placeholders


@pytest.mark.parametrize("command", _readme_commands())
def test_every_readme_command_runs_as_typed_after_setup(demo, command, tmp_path):
    words = shlex.split(command)
    if SERVERS & set(words):
        pytest.skip(f"{command!r} serves until stopped (make run starts it)")
    made = set(ROOT.iterdir())
    run = subprocess.run(words, cwd=ROOT, env=demo, capture_output=True, text=True, timeout=600)
    for path in set(ROOT.iterdir()) - made:  # e.g. the simulator's learning-curve PNG
        path.unlink()
    assert run.returncode == 0, f"{command}\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
    assert "Traceback" not in run.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(pid: int) -> set[int]:
    """Every process below `pid`, found through /proc (they live in sessions of their own)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _running(pids: set[int]) -> set[int]:
    """The pids still running (a zombie has ended; it only waits to be reaped)."""
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _default_interrupt() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def _start_make_run(demo: dict[str, str]) -> tuple[subprocess.Popen, int, Path]:
    port = _free_port()
    log = Path(demo["ENV_FILE"]).parent / f"run-{port}.log"
    handle = log.open("w")
    make = subprocess.Popen(
        [*MAKE, "run", "HOST=127.0.0.1", f"PORT={port}"],
        cwd=ROOT,
        env=demo,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal would give it
        # and Ctrl-C's default action, as a terminal gives it: a suite started in the
        # background of a non-interactive shell inherits SIGINT ignored, and so would make.
        preexec_fn=_default_interrupt,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert make.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        time.sleep(0.5)
    else:
        pytest.fail("make run did not serve within 300 s:\n" + log.read_text())
    # The worker is up too (it is started before the web server).
    assert any("qcluster" in Path(f"/proc/{p}/cmdline").read_text() for p in
               _running(_descendants(make.pid)))  # fmt: skip
    return make, port, log


@pytest.mark.parametrize(
    ("signum", "make_status"),
    [(signal.SIGINT, -signal.SIGINT), (signal.SIGTERM, -signal.SIGTERM)],
    ids=["ctrl-c", "sigterm"],
)
def test_make_run_stops_site_and_worker_within_ten_seconds(demo, signum, make_status):
    make, port, log = _start_make_run(demo)
    # The runner, the web server, the worker and its processes; the worker forks its own
    # processes once it is up, which may be a moment after the site answers.
    deadline = time.monotonic() + 30
    while len(children := _descendants(make.pid)) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    if len(children) < 4:
        os.killpg(make.pid, signal.SIGKILL)  # never leave a demo running behind a failure
        make.wait(timeout=15)
        pytest.fail(f"make run started {len(children)} processes, not 4 or more: {children}")
    os.killpg(make.pid, signum)  # what Ctrl-C (or a supervisor's SIGTERM) does to the group
    started = time.monotonic()
    make.wait(timeout=15)
    while _running(children) and time.monotonic() - started < 10:
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    output = log.read_text()
    assert not _running(children), f"still running after {elapsed:.1f} s:\n{output}"
    assert elapsed < 10
    # make ends by the signal it was sent (a shell shows 130 for Ctrl-C), after its recipe
    # ended cleanly: no "Error", no "Segmentation fault", no traceback.
    assert make.returncode == make_status
    assert "Stopped." in output
    assert "make: ***" not in output and "Traceback" not in output, output
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)


def test_make_run_console_shows_addresses_logins_and_no_mail(demo):
    make, port, log = _start_make_run(demo)
    try:
        output = log.read_text()
    finally:
        os.killpg(make.pid, signal.SIGINT)
        make.wait(timeout=15)
    assert f"Site:          http://127.0.0.1:{port}/" in output
    assert "Admin login:" in output
    # Links in the demo follow HOST and PORT.
    assert f"Portal link:   http://127.0.0.1:{port}/p/" in output
    assert "django_tasks" not in output and "INFO wagtail" not in output
    assert "INFO django-q" not in output
    assert "Content-Type:" not in output


def test_an_unsupported_python_is_refused_with_a_message():
    import runpy

    check = runpy.run_path(str(ROOT / "scripts" / "check_python.py"))
    assert check["main"]() == 0  # this interpreter is a supported one
    low, high = check["supported_range"]()
    for version in ((*low[:1], low[1] - 1), high):
        code = (
            "import sys, runpy; sys.version_info = " + repr((*version, 0, "final", 0)) + "; "
            f"sys.exit(runpy.run_path({str(ROOT / 'scripts' / 'check_python.py')!r})['main']())"
        )
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert run.returncode == 1
        assert "is not supported" in run.stderr and "Traceback" not in run.stderr
