"""The production topology, exercised: bench/scaleout.py --quick plans and dispatches 600
accounts with two real `manage.py qcluster` processes on PostgreSQL and the Redis broker,
SIGKILLs one cluster's process group half-way through dispatch, and checks that every message
went out exactly once and no task was lost (about 35 s)."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("SCALEOUT_REDIS_URL", "redis://127.0.0.1:6379/10")

pytestmark = pytest.mark.postgres


def _postgres_server() -> str:
    url = urlparse(os.environ.get("DATABASE_URL", ""))
    if not url.scheme.startswith("postgres"):
        pytest.skip("needs PostgreSQL (DATABASE_URL): the clusters share a server database")
    return url._replace(path="").geturl()


def _redis_reachable() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"needs Redis at {REDIS_URL} (the clusters' broker): {exc}")


def test_a_cluster_killed_mid_dispatch_loses_nothing_and_sends_nothing_twice():
    server = _postgres_server()
    _redis_reachable()
    # One run at a time on this machine: two would share the Redis database and the server.
    lock = Path(tempfile.gettempdir()) / "collections-scaleout-test.lock"
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        run = subprocess.run(
            [
                sys.executable,
                "bench/scaleout.py",
                "--quick",
                "--database-url",
                f"{server}/collections_test_scaleout",
                "--redis-url",
                REDIS_URL,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=240,
        )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    assert "SIGKILL of c3's process group" in out
    left = re.search(r"left claimed by the dead cluster: (\d+) messages", out)
    assert left and int(left.group(1)) > 0, out  # the kill caught the cluster holding claims
    assert out.count("    ok   ") == 5 and "FAIL" not in out
    assert "every planned message sent exactly once; no task lost" in out
