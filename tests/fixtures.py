"""Project-wide pytest fixtures, loaded for every test by `-p tests.fixtures` (pyproject).

Imports happen inside fixtures: this plugin loads before pytest-django configures Django, and
the Django-free cores' tests run with `-p no:django`.
"""

import pytest


def _client_for(creditor):
    from rest_framework.test import APIClient

    from accounts.tests.factories import api_user

    _, key = api_user(creditor)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def creditor(db):
    from accounts.tests.factories import CreditorFactory

    return CreditorFactory(name="Acme Energy", slug="acme", default_currency="USD")


@pytest.fixture
def other_creditor(db):
    from accounts.tests.factories import CreditorFactory

    return CreditorFactory(name="Globex", slug="globex", default_currency="EUR")


@pytest.fixture
def api(creditor):
    """An API client authenticated as a user of `creditor`."""
    return _client_for(creditor)


@pytest.fixture
def other_api(other_creditor):
    """An API client authenticated as a user of `other_creditor`."""
    return _client_for(other_creditor)


@pytest.fixture
def isolated(settings, tmp_path):
    """The outbox and uploads in a throwaway folder, and no process cache carried over from
    an earlier test (the shared cache, compliance rules, the loaded recommender model)."""
    from django.core.cache import cache

    from compliance.selectors import rules_cache_reset
    from recommender import services as recommender

    settings.MESSAGING_OUTBOX_DIR = tmp_path / "outbox"
    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()
    rules_cache_reset()
    recommender.policy_forget()
    yield
    recommender.policy_forget()
    rules_cache_reset()


@pytest.fixture
def life(creditor, isolated):
    """A debtor of `creditor` with a whole life through the real services (tests/privacy_life)."""
    from tests import privacy_life

    privacy_life.variants()
    return privacy_life.live(creditor)
