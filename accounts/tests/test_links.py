from datetime import timedelta

import pytest
from django.core import signing

from accounts import links


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
