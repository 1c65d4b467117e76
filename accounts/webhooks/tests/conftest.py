"""The schema checks of the API's own tests, for the webhooks' answers."""

from accounts.tests.test_api_schema import check, schema  # noqa: F401 (fixtures)
