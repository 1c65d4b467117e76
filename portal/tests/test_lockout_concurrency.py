"""The identity check's attempt counting under real parallel requests, on PostgreSQL.

Fifty browsers holding the same link post a wrong answer at the same moment to the live
server (one thread per request, each with its own database connection). The limit is
checked and counted in one locked step, so exactly `PORTAL_LOCKOUT_ATTEMPTS` answers are
evaluated and every other request is refused with 429.

Run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/collections_lockout (pytest-django
creates and drops its own test database next to it).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter

import pytest
import requests
from django.db import connection

from accounts.links import portal_token_make
from accounts.models import Activity
from accounts.tests.factories import place, row

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]

PARALLEL = 50
WRONG = {"day": "3", "month": "2", "year": "1980", "postal_code": "99999"}


def _browser_on_verify_page(base: str, token: str) -> tuple[requests.Session, str]:
    """A browser that opened the link: its session cookie and the page's CSRF token."""
    browser = requests.Session()
    page = browser.get(f"{base}/p/{token}/", timeout=30)
    assert page.status_code == 200 and page.url.endswith("/p/verify/"), page.status_code
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert csrf
    return browser, csrf.group(1)


@pytest.fixture
def _server_connections_closed():
    """Wait for the live server's request threads to close their database connections, so
    the test database can be dropped at the end."""
    yield
    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)


@pytest.mark.usefixtures("_server_connections_closed")
def test_fifty_parallel_wrong_answers_evaluate_exactly_the_limit(live_server, settings, creditor):
    settings.SESSION_COOKIE_SECURE = False  # the live server speaks plain HTTP
    settings.CSRF_COOKIE_SECURE = False
    (account,) = place(creditor, row(1))
    token = portal_token_make(debtor_id=account.debtor_id)
    browsers = [_browser_on_verify_page(live_server.url, token) for _ in range(PARALLEL)]
    barrier = threading.Barrier(PARALLEL)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def answer(browser: requests.Session, csrf: str) -> None:
        try:
            barrier.wait(timeout=60)
            response = browser.post(
                f"{live_server.url}/p/verify/",
                data={**WRONG, "csrfmiddlewaretoken": csrf},
                allow_redirects=False,
                timeout=120,
            )
            statuses.append(response.status_code)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=answer, args=pair) for pair in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for browser, _csrf in browsers:
        browser.close()  # the server's thread for each connection ends and closes its database
    assert not errors, errors

    limit = settings.PORTAL_LOCKOUT_ATTEMPTS
    evaluated = Activity.objects.filter(debtor=account.debtor, data__event="verify_failed")
    refused = Activity.objects.filter(debtor=account.debtor, data__event="verify_locked")
    assert evaluated.count() == limit, f"{evaluated.count()} wrong answers evaluated"
    assert refused.count() == PARALLEL - limit
    # The first limit - 1 say "do not match"; the one that reaches the limit and all the
    # refused ones say "too many attempts".
    assert Counter(statuses) == {200: limit - 1, 429: PARALLEL - limit + 1}, Counter(statuses)
    attempts = sorted(e.data["attempt"] for e in evaluated)
    assert attempts == list(range(1, limit + 1))
