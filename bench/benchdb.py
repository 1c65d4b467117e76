"""Shared by the bench scripts: a throwaway PostgreSQL database, dropped and created afresh,
instruction counting under callgrind, and pyinstrument's sampling profiler."""

import os
import subprocess
from contextlib import contextmanager
from urllib.parse import urlparse


@contextmanager
def instructions_counted(on: bool = True):
    """Have callgrind count this process's instructions inside the block only (the script
    runs under `valgrind --tool=callgrind --instr-atstart=no`); nothing when `on` is False."""
    if not on:
        yield
        return
    pid = str(os.getpid())
    subprocess.run(["callgrind_control", "--instr=on", pid], check=True)
    try:
        yield
    finally:
        subprocess.run(["callgrind_control", "--instr=off", pid], check=True)


def sampling_profiler():
    """pyinstrument's `Profiler` class, for `BENCH_PROFILE`; exits with how to install it
    when it is missing (it is not a project dependency)."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        raise SystemExit(
            "BENCH_PROFILE needs pyinstrument, which the project does not install: "
            ".venv-uv/bin/uv pip install --python .venv/bin/python pyinstrument"
        ) from None
    return Profiler


def _admin(url: str, *statements: str) -> None:
    """Run `statements` ({name}: the database of `url`) on the server's postgres database."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    with psycopg.connect(parsed._replace(path="/postgres").geturl(), autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql.format(name=name))


def recreate_database(url: str) -> None:
    """Drop (even with stale sessions on it) and create the database named in `url`."""
    _admin(url, 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', 'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    """Drop the database named in `url`, even with stale sessions on it."""
    _admin(url, 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def clone_database(url: str, template_url: str) -> None:
    """Drop the database named in `url` and create it as a copy of `template_url`'s (which
    must have no sessions open)."""
    template = urlparse(template_url).path.lstrip("/")
    _admin(
        url,
        'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        f'CREATE DATABASE "{{name}}" TEMPLATE "{template}"',
    )
