"""The site's session engines: `portal.sessions` without Redis, `portal.sessions.cached_db`
with it (chosen in `collections_site.settings.base`).

Both are Django's engines (`db` and `cached_db`) with one check added: a cookie whose key
Django could not have issued (`VALID_KEY_CHARS`) is no session. Such a key (`"\\000"` in a
quoted cookie value arrives as a NUL byte) would otherwise reach the database, which
PostgreSQL answers with an error, a 500 on every page.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS

_KEY_CHARS = frozenset(VALID_KEY_CHARS)


class ValidKeyMixin:
    """Treat a session key made of characters Django never issues as no key at all."""

    def _validate_session_key(self, key: str | None) -> bool:
        return super()._validate_session_key(key) and _KEY_CHARS.issuperset(key)


class SessionStore(ValidKeyMixin, db.SessionStore):
    pass
