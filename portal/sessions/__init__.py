"""The site's session engines: `portal.sessions` without Redis, `portal.sessions.cached_db`
with it (chosen in `collections_site.settings.base`).

Both are Django's engines with one check added: a cookie whose key Django could not have
issued (`VALID_KEY_CHARS`) is no session. Such a key (`"\\000"` in a quoted cookie value
arrives as a NUL byte) would otherwise reach the database, which PostgreSQL answers with an
error, a 500 on every page.

This one is Django's database engine, unchanged except for the read: one SQL statement
prepared once per process instead of an ORM query, whose compilation costs more CPU than the
portal's session check itself, on every portal page. Same table, the expiry still
checked in SQL (`expire_date > now`), every write inherited, nothing kept in the process.
"""

from __future__ import annotations

import functools

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.db import connections, router
from django.utils import timezone

_KEY_CHARS = frozenset(VALID_KEY_CHARS)


class ValidKeyMixin:
    """Treat a session key made of characters Django never issues as no key at all."""

    def _validate_session_key(self, key: str | None) -> bool:
        return super()._validate_session_key(key) and _KEY_CHARS.issuperset(key)


@functools.cache
def _read_sql(alias: str) -> str:
    from django.contrib.sessions.models import Session

    qn = connections[alias].ops.quote_name
    meta = Session._meta
    data, key, expiry = (
        qn(meta.get_field(name).column) for name in ("session_data", "session_key", "expire_date")
    )
    # Only quoted identifiers from model metadata are formatted in; values are parameters.
    return f"SELECT {data} FROM {qn(meta.db_table)} WHERE {key} = %s AND {expiry} > %s"  # noqa: S608


class SessionStore(ValidKeyMixin, db.SessionStore):
    def _get_session_from_db(self):
        alias = router.db_for_read(self.model)
        connection = connections[alias]
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(_read_sql(alias), [self.session_key, now])
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        return self.model(session_key=self.session_key, session_data=row[0])
