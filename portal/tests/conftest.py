"""Fixtures for portal tests: a placed account and a debtor signed in through the real flow."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.links import portal_token_make
from accounts.tests.factories import place, row

DOB = {"day": "3", "month": "2", "year": "1980"}  # matches factories.row's 1980-02-03
OTHER_DOB = {"day": "6", "month": "5", "year": "1990"}  # the `other_account` fixture
POSTAL = "02101"


def open_link(client: Client, debtor_id: int, **extra) -> str:
    """Exchange a fresh link; returns the token-free URL it redirected to."""
    response = client.get(f"/p/{portal_token_make(debtor_id=debtor_id)}/", **extra)
    assert response.status_code == 302
    return response["Location"]


def verify(client: Client, postal: str = POSTAL, **dob: str):
    return client.post("/p/verify/", {**DOB, **dob, "postal_code": postal})


def sign_in(client: Client, debtor_id: int, **dob: str) -> Client:
    open_link(client, debtor_id)
    response = verify(client, **dob)
    assert response.status_code == 302 and response["Location"] == "/p/", response
    return client


def nonce_of(html: str) -> str:
    match = re.search(r'name="nonce" value="([^"]+)"', html)
    assert match, "pay form carries a nonce"
    return match.group(1)


CARD_OK = {
    "card_number": "4242 4242 4242 4242",
    "exp_month": "12",
    "exp_year": "2099",
    "cvc": "123",
}
CARD_DECLINE = {**CARD_OK, "card_number": "4000000000000002"}
CARD_3DS = {**CARD_OK, "card_number": "4000002500003155"}


@pytest.fixture
def account(creditor):
    (placed,) = place(creditor, row(1))
    return placed


@pytest.fixture
def other_account(creditor):
    (placed,) = place(creditor, row(2, debtor={"date_of_birth": "1990-05-06"}))
    return placed


@pytest.fixture
def debtor_client(client, account) -> Client:
    return sign_in(client, account.debtor_id)
