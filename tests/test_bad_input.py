"""Odd input on public, portal and API URLs answers 4xx (or the form again), never 500 (NUL
bytes reach PostgreSQL as an error if nothing stops them first)."""

import base64
import csv
import html
import io
import json
import random
from decimal import Decimal
from urllib.parse import quote, urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

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
    # An empty status filters nothing (200); the rest are refused (400) or not found (404).
    expected = {200} if url.endswith("status=") else {400, 404}
    assert response.status_code in expected, (url, response.status_code)


# The last: "10" in full-width digits, which str.isdigit() accepts.
@pytest.mark.parametrize("size", ["abc", "null", "0", "-1", "1001", "2.5", "\uff11\uff10"])
def test_a_page_size_outside_1_to_1000_is_refused_with_the_field_named(api, size):
    response = api.get("/api/v1/accounts/", {"page_size": size})
    assert response.status_code == 400
    assert response.json() == {"page_size": ["A whole number from 1 to 1000."]}
    assert api.get("/api/v1/payments/", {"page_size": size}).status_code == 400
    assert api.get("/api/v1/accounts/", {"page_size": "1000"}).status_code == 200


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


# --- References -------------------------------------------------------------------------------
# Creditors' references often contain `/`: such an account is reached with the reference
# URL-encoded (`INV%2F2026%2F001`). What a URL cannot carry, or a person cannot see, is refused
# at placement: control characters, leading or trailing whitespace, and for an account's
# reference "." and ".." (clients resolve them as path segments) and a "/recall" ending.

REACHABLE_REFS = [
    "INV/2026/001", "a//b", "/lead", "trail/", "A?B#C", "100%", "%2F", "A B", "A+B", "ü/ß",
    "recall", "x/recall/y", "recall/", "..x", "a/../b", "a/./b", "~u;v=w@x:y,z$&'()*!",
]  # fmt: skip


@pytest.mark.parametrize("ref", REACHABLE_REFS)
def test_every_accepted_reference_is_reachable_url_encoded(api, creditor, ref):
    response = place_json(api, [row(1, external_ref=ref)])
    assert response.json()["created"] == [ref]
    url = f"/api/v1/accounts/{quote(ref, safe='')}/"
    detail = api.get(url)
    assert detail.status_code == 200 and detail.json()["external_ref"] == ref
    recall = api.post(f"{url}recall/")
    assert recall.status_code == 200 and recall.json()["external_ref"] == ref
    assert Account.objects.get().status == "recalled"


def test_a_reference_with_slashes_is_reachable_unencoded_too(api, creditor):
    place(creditor, row(1, external_ref="INV/2026/001"), row(2, external_ref="INV"))
    assert api.get("/api/v1/accounts/INV/2026/001/").json()["external_ref"] == "INV/2026/001"
    assert api.post("/api/v1/accounts/INV/2026/001/recall/").status_code == 200
    assert Account.objects.get(external_ref="INV").status == "active"
    # GET on a recall URL is not an account named ".../recall".
    assert api.get("/api/v1/accounts/INV/recall/").status_code == 405


WHITESPACE = "Must not start or end with whitespace."
CONTROL = "Must not contain control characters (line breaks, tabs, invisible formatting)."
REFUSED_REFS = {
    " INV-1": WHITESPACE,
    "INV-1 ": WHITESPACE,
    "INV-1\n": WHITESPACE,
    "\u00a0INV-1": WHITESPACE,
    "INV\r\n1": CONTROL,
    "INV\n1": CONTROL,
    "INV\r1": CONTROL,
    "INV\t1": CONTROL,
    "INV\x1b1": CONTROL,
    "INV\x7f1": CONTROL,
    "INV\x851": CONTROL,
    "INV\u20281": CONTROL,
    "INV\u200b1": CONTROL,
    "INV\u202e1": CONTROL,
    "INV\x001": "Must not contain NUL characters.",
}


@pytest.mark.parametrize("ref", list(REFUSED_REFS), ids=ascii)
@pytest.mark.parametrize("path", [("external_ref",), ("debtor", "external_ref")], ids=str)
def test_references_with_control_characters_or_edge_whitespace_are_refused(api, path, ref):
    response = place_json(api, [row(1), row_with(path, ref), row(3)])
    assert errors_at(response, path) == [REFUSED_REFS[ref]]


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (".", 'Must not be "." or "..": clients read them as a URL\'s path segments.'),
        ("..", 'Must not be "." or "..": clients read them as a URL\'s path segments.'),
        ("INV/recall", 'Must not end with "/recall": the account\'s URL would be its recall URL.'),
    ],
)
def test_account_references_a_url_cannot_carry_are_refused(api, ref, message):
    response = place_json(api, [row(1), row_with(("external_ref",), ref), row(3)])
    assert errors_at(response, ("external_ref",)) == [message]
    # A debtor's reference never appears in a URL.
    response = place_json(api, [row(4), row_with(("debtor", "external_ref"), ref), row(5)])
    assert response.json()["summary"]["rejected"] == 0


def csv_file(*refs: tuple[str, str]) -> bytes:
    """A placement CSV with one row per (account reference, debtor reference)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["external_ref", "original_amount", "debtor_external_ref",
                     "debtor_last_name", "debtor_region"])  # fmt: skip
    for ref, debtor_ref in refs:
        writer.writerow([ref, "10.00", debtor_ref, "Curie", "FR"])
    return out.getvalue().encode()


CSV_REFS = [("U1", "DU1"), (" U2", "DU2"), ("U3", "D\r\nU3"), ("U\t4", "DU4"), ("U5", "DU5 ")]
CSV_ERRORS = [
    f"Line 3 ( U2): external_ref — {WHITESPACE}",
    f"Line 4 (U3): debtor_external_ref — {CONTROL}",
    f"Line 5 (U\t4): external_ref — {CONTROL}",
    f"Line 6 (U5): debtor_external_ref — {WHITESPACE}",
]


def test_the_csv_import_refuses_references_with_control_characters(tmp_path, creditor, capsys):
    path = tmp_path / "accounts.csv"
    path.write_bytes(csv_file(*CSV_REFS))
    with pytest.raises(SystemExit):
        call_command("import_accounts", str(path), creditor=creditor.slug)
    err = capsys.readouterr().err
    assert all(line in err for line in CSV_ERRORS), err
    assert list(Account.objects.values_list("external_ref", flat=True)) == ["U1"]


def test_the_admin_upload_refuses_references_with_control_characters(admin_client, creditor):
    upload = SimpleUploadedFile("a.csv", csv_file(*CSV_REFS), "text/csv")
    response = admin_client.post(
        "/django-admin/accounts/account/upload-csv/", {"creditor": creditor.pk, "file": upload}
    )
    text = html.unescape(response.content.decode())
    assert all(line in text for line in CSV_ERRORS), text
    assert list(Account.objects.values_list("external_ref", flat=True)) == ["U1"]
