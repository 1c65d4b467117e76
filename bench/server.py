"""gunicorn with the production settings, for the benches that load the site over real HTTP
(bench/api.py, bench/cockpit.py, bench/portal.py): the environment it is served with, the
command, starting it and waiting until it answers, stopping it, and what it costs (the CPU
time of its processes and of the database's, from /proc).

The settings are `collections_site.settings.base` as production runs them, with a bench's
own database, secret and static folder, on 127.0.0.1 over plain HTTP (the HTTPS redirects
and secure cookies off), `gunicorn.conf.py` as the server's configuration.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG = "postgres://postgres@127.0.0.1:5432"
CONF = ROOT / "gunicorn.conf.py"
SECRET_KEY = "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def production_env(
    database_url: str, port: int, *, name: str, redis: str | None = None, **extra: str
) -> dict[str, str]:
    """The environment of a server (and of `manage.py` beside it) on `database_url`, at
    127.0.0.1:`port`; `name` names its static folder; `redis` serves with `REDIS_URL`, as
    production does (without it: the local-memory cache); `extra` adds or overrides."""
    return {
        **{k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DEBUG"}},
        "DJANGO_SETTINGS_MODULE": "collections_site.settings.base",
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SITE_URL": f"http://127.0.0.1:{port}",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
        "STATIC_ROOT": tempfile.mkdtemp(prefix=f"{name}-bench-static-"),
        "LOG_LEVEL": "WARNING",
        **({"REDIS_URL": redis} if redis else {}),
        **extra,
    }


def manage(env: dict[str, str], *command: str) -> None:
    """`manage.py <command>` in that environment (`migrate --noinput`, `collectstatic ...`)."""
    subprocess.run([PY, "manage.py", *command], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # fmt: skip


def gunicorn_command(port: int, workers: int, conf: Path | str = CONF) -> list[str]:
    """gunicorn serving the site with `conf` (the production `gunicorn.conf.py`) and
    `workers` workers on 127.0.0.1:`port`; a bench appends its own flags."""
    return [
        str(Path(PY).parent / "gunicorn"), "collections_site.wsgi",
        "-c", str(conf),
        "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
    ]  # fmt: skip


def server_start(
    command: list[str], env: dict[str, str], port: int, timeout: float = 60
) -> subprocess.Popen:
    """Start `command` and return once the port accepts connections; killed, and the error
    raised, if it exits first or `timeout` seconds pass."""
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                server.wait()
                raise
            time.sleep(0.2)


def server_stop(server: subprocess.Popen) -> None:
    """gunicorn's graceful stop (SIGTERM: workers finish their requests), killed after 30 s."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@contextmanager
def served(command: list[str], env: dict[str, str], port: int) -> Iterator[subprocess.Popen]:
    """The server running for the block, stopped after it whatever happens."""
    server = server_start(command, env, port)
    try:
        yield server
    finally:
        server_stop(server)


def csrf_token(page: str) -> str:
    """The CSRF token of a page's form (to sign in through the real login forms)."""
    match = _CSRF.search(page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def server_pids(master: int, database: str) -> tuple[list[int], list[int]]:
    """gunicorn's master and workers, and the PostgreSQL backends serving the bench database."""
    import psycopg

    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        backends = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [database]
        ).fetchall()
    return [master, *map(int, children)], [pid for (pid,) in backends]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]
