"""Odd input on public, portal and API URLs answers 4xx (or the form again), never 500 (NUL
bytes reach PostgreSQL as an error if nothing stops them first)."""

import base64
import json
import random
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from accounts import services
from accounts.models import Account, Payment
from accounts.tests.factories import place, row
from portal.tests.conftest import CARD_OK, nonce_of, sign_in

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/accounts/?page_size=abc",
        "/api/v1/accounts/?cursor=zzz",
        "/api/v1/accounts/?region=%00",
        "/api/v1/accounts/%00/",
        "/api/v1/accounts/%00/recall/",
        "/api/v1/payments/?account=%00",
        "/api/v1/accounts/?status=",
    ],
)
def test_odd_api_queries_never_answer_500(api, creditor, url):
    place(creditor, row(1))
    response = api.post(url) if url.endswith("recall/") else api.get(url)
    # A bad page size falls back to the default and an empty status filters nothing (200);
    # the rest are refused (400) or not found (404).
    expected = {200} if ("page_size" in url or url.endswith("status=")) else {400, 404}
    assert response.status_code in expected, (url, response.status_code)


@pytest.mark.parametrize(
    "url", ["/p/garbage/", "/p/%00/", "/m/o/garbage/", "/m/c/garbage/", "/m/u/garbage/"]
)
def test_forged_public_links_answer_without_error(client, url):
    assert client.get(url).status_code < 500


def test_nul_in_a_placement_row_is_a_field_error(api):
    response = api.post(
        "/api/v1/placements/", {"accounts": [row(1, external_ref="A\x00B")]}, format="json"
    )
    assert response.status_code == 400
    assert "external_ref" in response.json()["rejected"][0]["errors"]


@pytest.fixture
def portal_client(client, creditor):
    """A debtor signed in to the portal, with a settlement offer open on their account."""
    creditor.settlement_allowed = True
    creditor.max_settlement_discount_pct = 20
    creditor.save()
    (account,) = place(creditor, row(1))
    sign_in(client, account.debtor_id)
    client.account = account
    return client


@pytest.mark.parametrize("offer", ["²", "\x00", "-1", "9" * 40, "", "1.5"])
def test_odd_settlement_offer_ids_answer_without_error(portal_client, offer):
    account = portal_client.account
    nonce = nonce_of(portal_client.get(f"/p/a/{account.pk}/settle/").content.decode())
    response = portal_client.post(
        f"/p/a/{account.pk}/settle/", {"offer": offer, "nonce": nonce, **CARD_OK}
    )
    # No such offer: back to the overview, nothing paid.
    assert response.status_code == 302 and response["Location"] == "/p/"
    assert not Payment.objects.exists()


@pytest.mark.parametrize("number", ["4242²4242424242424", "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢", "\x00" * 16])
def test_odd_card_numbers_are_declined_not_an_error(portal_client, number):
    account = portal_client.account
    nonce = nonce_of(portal_client.get(f"/p/a/{account.pk}/pay/").content.decode())
    form = {"nonce": nonce, "purpose": "full", **CARD_OK, "card_number": number}
    response = portal_client.post(f"/p/a/{account.pk}/pay/", form)
    assert response.status_code in {200, 302}
    assert not Payment.objects.exists()


# --- JSON nested too deeply -------------------------------------------------------------------
# Python's json parser recurses once per level: ~1,000 levels end in a RecursionError (a 500).
# Every request whose body is JSON is refused past 64 levels, before any view reads it.

DEPTH = 950
TOO_DEEP = "nested too deeply"


@pytest.mark.parametrize(
    "body",
    [
        "[" * DEPTH + "]" * DEPTH,
        '{"accounts": ' + "[" * DEPTH + "]" * DEPTH + "}",
        '{"a": ' * DEPTH + "1" + "}" * DEPTH,
    ],
    ids=["arrays", "inside-a-placement", "objects"],
)
def test_deeply_nested_json_in_a_placement_is_a_400(api, body):
    response = api.generic("POST", "/api/v1/placements/", body, content_type="application/json")
    assert response.status_code == 400
    assert TOO_DEEP in response.json()["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/accounts/ACC-1/recall/",
        "/p/webhooks/stripe/",
        "/m/hooks/twilio/status/",
        "/m/hooks/anymail/mailgun/tracking/",
    ],
)
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_deeply_nested_json_is_a_400_on_every_endpoint(api, creditor, url, content_type):
    place(creditor, row(1))
    body = '{"a": ' + "[" * DEPTH + "]" * DEPTH + "}"
    response = api.generic("POST", url, body, content_type=content_type)
    assert response.status_code == 400
    assert TOO_DEEP in response.json()["detail"]
    assert Account.objects.get().status == "active"


def test_deeply_nested_json_in_another_charset_is_a_400(api):
    body = ('{"accounts": ' + "[" * DEPTH + "]" * DEPTH + "}").encode("utf-16")
    response = api.generic(
        "POST", "/api/v1/placements/", body, content_type="application/json; charset=utf-16"
    )
    assert response.status_code == 400
    assert TOO_DEEP in response.json()["detail"]


def test_brackets_inside_json_strings_are_not_nesting(api):
    # Escaped quotes and backslashes do not end the string either.
    description = '[{"\\' * 70
    response = api.post(
        "/api/v1/placements/", {"accounts": [row(1, description=description)]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["created"] == ["ACC-1"]


def test_json_nested_up_to_the_limit_reaches_the_view(api):
    from collections_site.middleware import JSON_MAX_DEPTH

    nested = "[" * (JSON_MAX_DEPTH - 2) + "]" * (JSON_MAX_DEPTH - 2)
    response = api.generic(
        "POST", "/api/v1/placements/", '{"accounts": [' + nested + "]}", "application/json"
    )
    # One level more than the limit is refused by the guard; this one is a row error.
    assert response.status_code == 400
    assert response.json()["rejected"][0]["errors"] == {
        "non_field_errors": ["Each row must be a JSON object."]
    }
    deeper = "[" * JSON_MAX_DEPTH + "]" * JSON_MAX_DEPTH
    response = api.generic(
        "POST", "/api/v1/placements/", '{"accounts": ' + deeper + "}", "application/json"
    )
    assert TOO_DEEP in response.json()["detail"]


# --- Characters no database stores ------------------------------------------------------------
# JSON can carry an unpaired UTF-16 surrogate ("\ud800"), which no UTF-8 encoder accepts, and
# NUL, which PostgreSQL refuses in text. Either used to fail the whole placement (PostgreSQL's
# COPY, SQLite's encoder); each is a field error of its row, and the other rows are placed.

ACCOUNT_TEXT = ["external_ref", "currency", "description"]
DEBTOR_TEXT = [
    "external_ref", "first_name", "last_name", "email", "phone", "address_line1",
    "address_line2", "city", "postal_code", "region", "timezone", "language",
]  # fmt: skip
CANNOT_STORE = "Contains characters that cannot be stored (an unpaired surrogate such as \\ud800)."
UNSTORABLE = {"d800": "\ud800", "dfff": "\udfff", "nul": "\x00"}
MESSAGE = {"d800": CANNOT_STORE, "dfff": CANNOT_STORE, "nul": "Must not contain NUL characters."}


def place_json(api, rows):
    """POST rows as JSON text with every non-ASCII character escaped, as `\\ud800` must be."""
    return api.generic(
        "POST", "/api/v1/placements/", json.dumps({"accounts": rows}), "application/json"
    )


def row_with(path: tuple[str, ...], value):
    bad = row(2)
    (bad if len(path) == 1 else bad["debtor"])[path[-1]] = value
    return bad


def errors_at(response, path: tuple[str, ...]):
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["created"] == ["ACC-1", "ACC-3"]
    (rejected,) = body["rejected"]
    assert rejected["index"] == 1
    assert Account.objects.count() == 2
    errors = rejected["errors"]
    for key in path:
        errors = errors[key]
    return errors


@pytest.mark.parametrize("char", list(UNSTORABLE))
@pytest.mark.parametrize(
    "path", [(f,) for f in ACCOUNT_TEXT] + [("debtor", f) for f in DEBTOR_TEXT], ids=str
)
def test_unstorable_text_is_a_field_error_and_the_other_rows_are_placed(api, path, char):
    response = place_json(api, [row(1), row_with(path, f"X{UNSTORABLE[char]}Y"), row(3)])
    assert errors_at(response, path) == [MESSAGE[char]]


@pytest.mark.parametrize("char", list(UNSTORABLE))
@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("original_amount",), "12{}"),
        (("current_balance",), "1{}"),
        (("due_date",), "2026-10-0{}"),
        (("debtor", "date_of_birth"), "1980-01-0{}"),
        (("debtor", "flags"), ["cell_phone", "x{}"]),
    ],
    ids=str,
)
def test_unstorable_characters_in_other_fields_are_field_errors(api, path, value, char):
    char = UNSTORABLE[char]
    value = [v.replace("{}", char) for v in value] if isinstance(value, list) else value
    value = value.replace("{}", char) if isinstance(value, str) else value
    response = place_json(api, [row(1), row_with(path, value), row(3)])
    assert errors_at(response, path)


@pytest.mark.parametrize("char", list(UNSTORABLE))
@pytest.mark.parametrize("where", ["account", "debtor"])
def test_unknown_keys_with_unstorable_characters_are_reported(api, where, char):
    bad = row(2)
    (bad if where == "account" else bad["debtor"])[f"x{UNSTORABLE[char]}"] = "1"
    response = place_json(api, [row(1), bad, row(3)])
    errors = errors_at(response, () if where == "account" else ("debtor",))
    assert list(errors.values()) == [["Unknown field."]]


# --- Forged cursors ---------------------------------------------------------------------------
# A cursor is base64 of `o=<offset>&r=<0|1>&p=<position>`, the position being the ordering
# field's value (a date-time). Anything else is a 400, not a 404 nor a database error.

LISTS = ["/api/v1/accounts/", "/api/v1/payments/"]
INVALID_CURSOR = {"cursor": ["Invalid cursor."]}


def b64(text: str) -> str:
    """A cursor of `text` (a query string; `+` stands for itself, as DRF encodes it)."""
    return base64.b64encode(text.replace("+", "%2B").encode()).decode()


@pytest.fixture
def paid(creditor):
    accounts = place(creditor, row(1), row(2), row(3))
    for n, account in enumerate(accounts):
        services.payment_record(
            account=account, amount=Decimal("1"), idempotency_key=f"k{n}", method="card", actor="t"
        )
    return accounts


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize(
    "cursor",
    [
        "cD1ub3RhZGF0ZQ==",  # p=notadate
        "zzz",
        "%FF%FE",
        "%C3%A9",
        base64.b64encode(bytes(range(256))).decode(),
        b64("p=2026-13-45 00:00:00+00:00"),
        b64("p=9999-12-31 23:59:59.999999-14:00"),  # after year 9999 in UTC
        b64("p=0001-01-01 00:00:00+14:00"),  # before year 1 in UTC
        b64("p=" + "9" * 40),
        b64("p=" + "1" * 5000),
        b64("p=2026-01-01"),
        b64("p=2026-01-01%0000:00:00+00:00"),
        b64("p=%ED%A0%80"),
        b64("o=abc"),
        b64("o=-1"),
        b64("o=" + "9" * 5000),
        b64("r=yes"),
        b64("r=" + "9" * 5000),
    ],
    ids=lambda cursor: cursor[:24],
)
def test_forged_cursors_answer_400(api, paid, url, cursor):
    response = api.get(f"{url}?cursor={cursor}")
    assert response.status_code == 400, (cursor, response.status_code)
    assert response.json() == INVALID_CURSOR


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize(
    "cursor",
    [
        b64("o=" + "9" * 30),  # offsets are capped
        b64("r=1&p=2999-01-01 00:00:00+00:00"),
        b64("p=2000-01-01T00:00:00Z"),
        b64("p=2026-01-01 00:00:00"),  # naive: UTC, as updated_since
    ],
    ids=lambda cursor: cursor[:24],
)
def test_odd_but_valid_cursors_answer_a_page(api, paid, url, cursor):
    response = api.get(f"{url}?cursor={cursor}")
    assert response.status_code == 200
    assert "results" in response.json()


@pytest.mark.parametrize("url", LISTS)
def test_the_cursors_the_api_hands_out_still_work(api, paid, url):
    first = api.get(f"{url}?page_size=2").json()
    second = api.get(first["next"]).json()
    back = api.get(second["previous"]).json()
    assert len(first["results"]) == 2 and len(second["results"]) == 1
    assert back["results"] == first["results"]


@pytest.mark.parametrize("url", LISTS)
def test_random_cursors_answer_a_page_or_400(api, paid, url):
    rnd = random.Random(url)
    values = [
        "", "0", "1", "-1", "x", "\x00", "9" * 25, "1e9", "2026-02-30 00:00:00+00:00",
        "2026-01-01 00:00:00+00:00", "2026-01-01 25:00:00+00:00", "é", "[]", "None",
    ]  # fmt: skip
    for _ in range(60):
        if rnd.random() < 0.3:
            raw = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 40)))
            cursor = base64.b64encode(raw).decode()
        else:
            pairs = [
                (k, rnd.choice(values)) for k in rnd.sample(["o", "r", "p"], rnd.randint(1, 3))
            ]
            cursor = base64.b64encode(urlencode(pairs).encode()).decode()
        response = api.get(url, {"cursor": cursor})
        assert response.status_code in {200, 400}, (cursor, response.status_code)
        if response.status_code == 400:
            assert response.json() == INVALID_CURSOR
