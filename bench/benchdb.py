"""Shared by the bench scripts: a throwaway PostgreSQL database, dropped and created afresh."""

from urllib.parse import urlparse


def recreate_database(url: str) -> None:
    """Drop (even with stale sessions on it) and create the database named in `url`."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
