"""Django's PostgreSQL backend, with a cheaper health check.

With `CONN_HEALTH_CHECKS` (set in settings for PostgreSQL), Django checks a kept connection
before each request's first query with `SELECT 1`: one more round trip per request, a third
of the portal overview's. The check is there for a connection the server has ended
(restart, `pg_terminate_backend`, an idle-session timeout), and the server announces each of
those by sending an error message and closing the socket: the idle connection's socket
becomes readable. So an idle connection whose socket has nothing to read is usable without
asking. Anything readable (that, or a notification or parameter change the server may send
unprompted) and any connection not idle get Django's `SELECT 1` as before. A connection lost
without a word (a network cut) was not caught by `SELECT 1` either: it waits for TCP.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from django.db.backends.postgresql.psycopg_any import is_psycopg3

if is_psycopg3:
    from psycopg.pq import TransactionStatus


def _readable(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))  # POLLERR and POLLHUP are always reported


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if (
            is_psycopg3
            and connection is not None
            and not connection.closed
            and connection.info.transaction_status == TransactionStatus.IDLE
            and not _readable(connection.fileno())
        ):
            return True
        return super().is_usable()
