from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from django.core import signing

from accounts import links
from accounts.links import _CODE_ALPHABET


def test_token_round_trip_names_the_debtor_and_a_link_id():
    token = links.portal_token_make(debtor_id=42)
    read = links.portal_token_read(token)
    assert read.debtor_id == 42 and read.jti
    assert links.portal_token_read(links.portal_token_make(debtor_id=42)).jti != read.jti


def test_altered_token_is_invalid():
    token = links.portal_token_make(debtor_id=42)
    altered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(links.LinkInvalid):
        links.portal_token_read(altered)


def test_token_signed_for_another_purpose_is_invalid():
    other = signing.dumps({"d": 42, "j": "x"}, salt="something-else")
    with pytest.raises(links.LinkInvalid):
        links.portal_token_read(other)


def test_expired_token_is_invalid(monkeypatch):
    token = links.portal_token_make(debtor_id=7)
    with pytest.raises(links.LinkInvalid):
        links.portal_token_read(token, max_age=timedelta(seconds=-1))


@pytest.fixture
def today(monkeypatch):
    """The UTC day letter codes are made and read on (`today.value` moves it)."""
    day = SimpleNamespace(value=date(2026, 12, 7))
    monkeypatch.setattr(links, "_utc_today", lambda: day.value)
    return day


def test_a_letter_code_is_short_and_typed_case_blind_with_or_without_hyphens(today):
    code = links.letter_code_make(debtor_id=12345)
    assert len(code) == 19 and code.count("-") == 3  # 16 characters in fours
    longer = links.letter_code_make(debtor_id=123456)
    assert len(longer) == 20 and longer.count("-") == 3  # 17, the last group of five
    assert links.portal_token_read(longer).debtor_id == 123456
    assert not set(code) & set("ILOU") and code == code.upper()
    read = links.portal_token_read(code)
    assert read.debtor_id == 12345 and read.jti.startswith("c")
    for typed in (code.lower(), code.replace("-", ""), code.replace("-", " ")):
        assert links.portal_token_read(typed) == read
    # Crockford's look-alikes: O for 0, I and L for 1 (debtor 32 is "10" in base32).
    ten = links.letter_code_make(debtor_id=32)
    assert ten.startswith("10")
    for typed in ("IO" + ten[2:], "lo" + ten[2:]):
        assert links.portal_token_read(typed).debtor_id == 32


@pytest.mark.parametrize(("days", "valid"), [(0, True), (45, True), (46, False)])
def test_a_letter_code_lives_its_own_days(today, settings, days, valid):
    settings.PORTAL_LETTER_LINK_MAX_AGE_DAYS = 45
    code = links.letter_code_make(debtor_id=7)
    today.value += timedelta(days=days)
    if valid:
        assert links.portal_token_read(code).debtor_id == 7
    else:
        with pytest.raises(links.LinkInvalid):
            links.portal_token_read(code)
        # The relink window still names the debtor, to send a fresh link.
        assert links.portal_token_read(code, max_age=timedelta(days=90)).debtor_id == 7


def test_a_letter_code_cannot_be_altered_or_made_without_the_key(today, settings):
    code = links.letter_code_make(debtor_id=7)
    other = links.letter_code_make(debtor_id=8)
    first = code.replace("-", "")
    for bad in (
        _CODE_ALPHABET[(_CODE_ALPHABET.index(first[0]) + 1) % 32] + first[1:],  # another debtor
        first[:-1] + ("0" if first[-1] != "0" else "1"),  # the HMAC altered
        other[:5] + code[5:],  # one debtor's HMAC on another's id
        first[-10:],  # the HMAC alone
        "",
        "Ü" + first,
    ):
        with pytest.raises(links.LinkInvalid):
            links.portal_token_read(bad)
    settings.SECRET_KEY = "another key, long enough to sign with" * 2
    with pytest.raises(links.LinkInvalid):
        links.portal_token_read(code)


def test_a_letter_code_made_before_a_key_rotation_still_reads(today, settings):
    settings.SECRET_KEY = "the key of last year, long enough to sign with" * 2
    code = links.letter_code_make(debtor_id=9)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "this year's key, also long enough to sign with" * 2
    assert links.portal_token_read(code).debtor_id == 9


def test_a_letters_portal_link_is_its_code(today, settings):
    settings.SITE_URL = "https://collect.example.com"
    url = links.portal_url(debtor_id=5, paper=True)
    code = links.letter_code_make(debtor_id=5)
    assert url == f"https://collect.example.com/p/{code}/" and links.is_portal_url(url)
    assert links.letter_code_of(url) == code
    assert links.letter_code_of(links.portal_url(debtor_id=5)) is None  # a signed token
    assert links.letter_code_of("https://other.example.com/p/K3M9-TTQ4-ZZ7A-B2CD/") is None
    found = links.portal_url_in(["https://example.org/help", url])
    assert found == url and links.portal_url_in(["https://example.org/help"]) is None


def test_portal_url_is_absolute(settings):
    settings.SITE_URL = "https://collect.example.com"
    url = links.portal_url(debtor_id=5)
    assert url.startswith("https://collect.example.com/p/") and url.endswith("/")


def test_a_portal_link_is_told_from_the_messages_other_links(settings):
    settings.SITE_URL = "https://collect.example.com"
    assert links.is_portal_url(links.portal_url(debtor_id=7))
    for other in (
        "https://collect.example.com/p/",  # no token
        "https://collect.example.com/p/a/146/pay/",  # a portal page, not a link into it
        "https://collect.example.com/m/u/1kd.email.0:x/",  # an opt-out link
        "https://other.example.com/p/token/",  # another site
    ):
        assert not links.is_portal_url(other), other


def test_babel_locale_pairs_language_with_the_regions_country():
    from accounts.regions import babel_locale

    assert babel_locale("fr", "CA-QC") == "fr_CA"
    assert babel_locale("de", "DE") == "de_DE"
    assert babel_locale("en", "US-NY-NYC") == "en_US"
    assert babel_locale("xx", "FR") == "en"  # unknown language falls back to English


def test_links_sent_while_tokens_were_made_with_compression_still_open():
    # Tokens made before 2026-11-22 asked signing to compress (it never did: too small).
    # A compressed payload, as signing writes it, must read as well.
    old = signing.dumps({"d": 9, "j": "x" * 40}, salt="portal-link-v1", compress=True)
    assert old.startswith(".")  # this one really is compressed
    assert links.portal_token_read(old).debtor_id == 9
    assert not links.portal_token_make(debtor_id=9).startswith(".")
