"""The site's session engine without Redis (`SESSION_ENGINE = "portal.sessions"`).

Django's database sessions, unchanged except for the read: one SQL statement prepared once per
process instead of an ORM query, whose compilation cost more CPU than the portal's session
check itself (~0.4 ms of every portal page). Same table, the expiry still checked in SQL
(`expire_date > now`), every write inherited, nothing kept in the process. With `REDIS_URL`
the settings use Django's `cached_db` engine instead.
"""

from __future__ import annotations

import functools

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


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


class SessionStore(db.SessionStore):
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
