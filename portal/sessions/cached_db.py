"""Django's `cached_db` session engine with the portal's session-key check (see
`portal.sessions`); the engine when `REDIS_URL` gives the site a shared cache."""

from __future__ import annotations

from django.contrib.sessions.backends import cached_db

from portal.sessions import ValidKeyMixin


class SessionStore(ValidKeyMixin, cached_db.SessionStore):
    pass
