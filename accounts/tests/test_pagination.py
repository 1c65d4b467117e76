"""Paging the API's lists to the end (accounts.pagination): every row once, in order, however
many rows share a timestamp, whatever changes meanwhile, and only the creditor's own."""

from __future__ import annotations

import base64
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services
from accounts.models import Account
from accounts.tests.factories import place, row
from accounts.webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

ACCOUNTS = "/api/v1/accounts/"


def walk(api, url: str, *, limit: int = 100) -> list[dict]:
    """Every page from `url` along the `next` links, at most `limit` pages."""
    pages = []
    while url and len(pages) < limit:
        response = api.get(url)
        assert response.status_code == 200, response.content[:300]
        pages.append(response.json())
        url = pages[-1]["next"]
    assert url is None, f"still a next page after {limit} pages"
    return pages


def refs(pages: list[dict]) -> list[str]:
    return [a["external_ref"] for page in pages for a in page["results"]]


def tokens(link: str) -> dict[str, list[str]]:
    cursor = parse_qs(urlsplit(link).query)["cursor"][0]
    return parse_qs(base64.b64decode(cursor).decode())


def b64(text: str) -> str:
    return base64.b64encode(text.replace("+", "%2B").encode()).decode()


def test_more_rows_with_one_timestamp_than_an_offset_could_reach_are_each_read_once(api, creditor):
    """A placement of 1,250 accounts gives them one `updated_at`; DRF's offsets stop at 1,000,
    so its cursors went round in circles after the 1,100th row."""
    place(creditor, *(row(n) for n in range(1250)))
    assert Account.objects.filter(creditor=creditor).values("updated_at").distinct().count() == 1
    pages = walk(api, f"{ACCOUNTS}?page_size=100")
    assert len(pages) == 13
    expected = list(
        Account.objects.filter(creditor=creditor).order_by("id").values_list("external_ref", flat=1)
    )
    assert refs(pages) == expected


def test_pages_follow_the_timestamp_then_the_id_across_runs_of_equal_timestamps(api, creditor):
    place(creditor, *(row(n) for n in range(5)))
    place(creditor, *(row(n) for n in range(5, 12)))
    place(creditor, row(12))
    expected = list(
        Account.objects.filter(creditor=creditor)
        .order_by("updated_at", "id")
        .values_list("external_ref", flat=True)
    )
    for size in (1, 3, 5, 7, 13):
        assert refs(walk(api, f"{ACCOUNTS}?page_size={size}")) == expected, size


def test_a_row_changed_while_paging_moves_to_the_end_and_nothing_unchanged_is_skipped(
    api, creditor
):
    accounts = place(creditor, *(row(n) for n in range(20)))  # one timestamp for all
    first = api.get(f"{ACCOUNTS}?page_size=5").json()
    second = api.get(first["next"]).json()
    read = refs([first, second])
    # One account already read and one not yet read change (each now has a later timestamp).
    services.account_recall(account=Account.objects.get(external_ref=read[1]), actor="t")
    ahead = accounts[15]
    services.account_recall(account=Account.objects.get(pk=ahead.pk), actor="t")
    rest = refs(walk(api, second["next"]))
    everything = read + rest
    assert set(everything) == {a.external_ref for a in accounts}
    assert rest[-2:] == [read[1], ahead.external_ref]  # the changed ones, last, in change order
    assert everything.count(read[1]) == 2  # read before it changed, and again after
    assert everything.count(ahead.external_ref) == 1
    unchanged = [r for r in everything if r not in {read[1], ahead.external_ref}]
    assert len(unchanged) == len(set(unchanged)) == 18


def test_previous_links_walk_back_through_the_same_pages(api, creditor):
    place(creditor, *(row(n) for n in range(9)))
    place(creditor, *(row(n) for n in range(9, 14)))
    forward = walk(api, f"{ACCOUNTS}?page_size=4")
    assert forward[0]["previous"] is None
    back = [forward[-1]]
    while back[-1]["previous"]:
        back.append(api.get(back[-1]["previous"]).json())
    assert [p["results"] for p in reversed(back)] == [p["results"] for p in forward]


def test_two_creditors_with_the_same_timestamps_never_see_each_others_rows(
    api, other_api, creditor, other_creditor
):
    now = timezone.now()
    mine = place(creditor, *(row(n) for n in range(7)))
    theirs = place(other_creditor, *(row(n, currency="EUR") for n in range(7, 14)))
    Account.objects.update(updated_at=now)  # both creditors interleaved at one instant
    assert refs(walk(api, f"{ACCOUNTS}?page_size=3")) == [a.external_ref for a in mine]
    assert refs(walk(other_api, f"{ACCOUNTS}?page_size=3")) == [a.external_ref for a in theirs]
    # A cursor is a place in the list, not a permission: another creditor reading with one
    # still reads only its own rows.
    link = api.get(f"{ACCOUNTS}?page_size=3").json()["next"]
    assert refs([other_api.get(link).json()]) == [a.external_ref for a in theirs[:3]]


def test_events_and_payments_page_to_the_end_the_same_way(api, creditor):
    accounts = place(creditor, *(row(n) for n in range(6)))
    for n, account in enumerate(accounts):
        services.payment_record(
            account=account, amount=Decimal("1"), idempotency_key=f"k{n}", method="card", actor="t"
        )
    WebhookEvent.objects.update(created_at=timezone.now() - timedelta(hours=1))  # one instant
    events = [e["id"] for p in walk(api, "/api/v1/events/?page_size=4") for e in p["results"]]
    assert events == sorted(events) and len(events) == WebhookEvent.objects.count() >= 6
    payments = [p["id"] for page in walk(api, "/api/v1/payments/?page_size=4") for p in
                page["results"]]  # fmt: skip
    assert payments == sorted(payments) and len(payments) == 6


def test_a_page_reads_on_from_the_last_row_by_row_comparison_without_offset_or_count(api, creditor):
    place(creditor, *(row(n) for n in range(5)))
    link = api.get(f"{ACCOUNTS}?page_size=2").json()["next"]
    assert set(tokens(link)) == {"p", "k"}
    with CaptureQueriesContext(connection) as queries:
        assert api.get(link).status_code == 200
    (page,) = [q["sql"] for q in queries.captured_queries if "accounts_account" in q["sql"]]
    if connection.vendor == "postgresql":  # SQLite's is written out as (a > x OR a = x AND ...)
        assert '("accounts_account"."updated_at", "accounts_account"."id") >' in page
    assert "OFFSET" not in page and "COUNT(" not in page.upper()
    # The key, then the page: no query per row.
    assert len(queries.captured_queries) <= 3


def test_a_cursor_in_drfs_format_still_reads_on_and_the_next_one_is_a_keyset_cursor(api, creditor):
    place(creditor, *(row(n) for n in range(3)))
    place(creditor, *(row(n) for n in range(3, 6)))
    first_run = Account.objects.filter(creditor=creditor).order_by("updated_at", "id")
    position = str(first_run[0].updated_at)
    # DRF's cursor after the first run's timestamp, one row of the next run already read.
    page = api.get(f"{ACCOUNTS}?page_size=2&cursor={b64(f'o=1&p={position}')}").json()
    assert [a["external_ref"] for a in page["results"]] == ["ACC-4", "ACC-5"]
    assert set(tokens(page["previous"])) == {"r", "p", "k"}
    assert page["next"] is None


@pytest.mark.parametrize(
    "cursor",
    [
        b64("k=5"),  # a key without a position
        b64("p=2026-01-01 00:00:00+00:00&k=abc"),
        b64("p=2026-01-01 00:00:00+00:00&k=-1"),
        b64("p=2026-01-01 00:00:00+00:00&k=1.5"),
        b64("p=2026-01-01 00:00:00+00:00&k=" + "9" * 20),
        b64("p=2026-01-01 00:00:00+00:00&k=٣"),
        b64("p=2026-01-01 00:00:00+00:00&k="),
        b64("p=notadate&k=5"),
    ],
    ids=lambda cursor: cursor[:24],
)
@pytest.mark.parametrize("url", [ACCOUNTS, "/api/v1/payments/"])
def test_keyset_cursors_with_a_bad_key_answer_400(api, url, cursor):
    response = api.get(url, {"cursor": cursor})
    assert response.status_code == 400
    assert response.json() == {"cursor": ["Invalid cursor."]}


@pytest.mark.parametrize(
    "key", ["%00", "evt x", "%C3%A9", "x" * 41, ""], ids=["nul", "space", "accent", "long", "empty"]
)
def test_event_cursors_with_a_key_no_event_can_have_answer_400(api, key):
    cursor = base64.b64encode(f"p=2026-01-01 00:00:00%2B00:00&k={key}".encode()).decode()
    response = api.get("/api/v1/events/", {"cursor": cursor})
    assert response.status_code == 400
    assert response.json() == {"cursor": ["Invalid cursor."]}
