"""Fixtures of the compliance tests.

The database starts with the shipped packs (migration 0002 loads them when the test database
is created); each test runs in a transaction that is rolled back, so rule edits never leak.
The in-process rules cache is reset before each test for the same reason. ``admin_user`` and
``admin_client`` are pytest-django's own fixtures (a superuser, logged in).
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _rules_cache_reset():
    from django.apps import apps

    if not apps.ready:  # the Django-free engine tests may run with -p no:django
        yield
        return
    from compliance.selectors import rules_cache_reset

    rules_cache_reset()
    yield
    rules_cache_reset()
