"""Fixtures of the compliance tests.

The database starts with the shipped packs (migration 0002 loads them when the test database
is created); each test runs in a transaction that is rolled back, so rule edits never leak.
The in-process rules cache is reset before each test for the same reason.
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


@pytest.fixture
def admin_user(db):
    from accounts.tests.factories import UserFactory

    return UserFactory(username="officer", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client
