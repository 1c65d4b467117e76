"""SSRF: targets on loopback, private, link-local, metadata and other non-public addresses are
refused when the endpoint is saved and again at delivery; the POST goes to the checked
address."""

from __future__ import annotations

import socket

import pytest

from accounts.tests.factories import place, row
from accounts.webhooks import delivery, safety
from accounts.webhooks import services as webhooks
from accounts.webhooks.models import WebhookDelivery
from accounts.webhooks.tests.receiver import Receiver

ENDPOINTS = "/api/v1/webhook-endpoints/"

REFUSED = [
    "https://127.0.0.1/hook",
    "https://10.1.2.3/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:10.0.0.1]/hook",
    "https://[fd00:ec2::254]/hook",
    "https://[fe80::1]/hook",
    "https://100.100.100.200/hook",
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    "https://localhost/hook",  # a name resolving to loopback
]


@pytest.mark.parametrize("url", REFUSED)
def test_the_api_refuses_a_non_public_target(api, url, settings):
    assert settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS is False
    answer = api.post(ENDPOINTS, {"url": url}, format="json")
    assert answer.status_code == 400, answer.content
    assert "refused" in answer.json()["url"][0]


def test_a_name_resolving_to_a_private_address_is_refused(api, monkeypatch):
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("93.184.215.14", 443)),
                                               (2, 1, 6, "", ("10.0.0.7", 443))]
    )  # fmt: skip
    answer = api.post(ENDPOINTS, {"url": "https://hooks.example.com/x"}, format="json")
    assert answer.status_code == 400
    assert answer.json()["url"] == [
        "The URL's host resolves to a private address, which is refused."
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://93.184.215.14/hook", "The URL must use https."),
        ("ftp://93.184.215.14/hook", "The URL must use https."),
        ("https://user:pw@93.184.215.14/hook", "The URL may not contain a user name or password."),
        ("https://no-such-host.invalid/hook", "The host no-such-host.invalid cannot be resolved."),
    ],
)
def test_plain_http_credentials_and_unknown_hosts_are_refused(api, url, message):
    answer = api.post(ENDPOINTS, {"url": url}, format="json")
    assert answer.status_code == 400
    assert answer.json()["url"] == [message]


def test_a_public_https_target_is_accepted(api, monkeypatch):
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("93.184.215.14", 443))]
    )
    answer = api.post(ENDPOINTS, {"url": "https://hooks.example.com/x"}, format="json")
    assert answer.status_code == 201, answer.content


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.215.14", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    assert safety.address_problem(address) is None


def test_the_target_is_checked_again_at_delivery(creditor, settings):
    """Saved while private targets were allowed, then refused at delivery: nothing is sent
    and the attempt says why."""
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    receiver = Receiver()
    url = receiver.start()
    try:
        endpoint = webhooks.endpoint_create(creditor=creditor, url=url)
        place(creditor, row(1))
        settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
        assert delivery.deliveries_send_due().retrying == 1
        assert receiver.received == []
        attempt = WebhookDelivery.objects.get(endpoint=endpoint).attempt_log.get()
        assert attempt.status_code is None and "must use https" in attempt.error
    finally:
        receiver.stop()


def test_the_post_goes_to_the_checked_address_with_the_urls_host(creditor, settings, monkeypatch):
    """The name is resolved once, checked, and the connection made to that address (a second
    look-up could answer differently: DNS rebinding); the Host header keeps the name."""
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    receiver = Receiver()
    url = receiver.start()
    port = receiver.server.server_address[1]
    lookups = []

    def resolve(host, *args, **kwargs):
        lookups.append(host)
        return [(2, 1, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    try:
        webhooks.endpoint_create(creditor=creditor, url=f"http://hooks.example.com:{port}/in")
        place(creditor, row(1))
        lookups.clear()
        assert delivery.deliveries_send_due().succeeded == 1
        # The name once, by the check; the connection only "resolves" the checked address.
        assert lookups == ["hooks.example.com", "127.0.0.1"]
        (got,) = receiver.received
        assert got.headers["Host"] == f"hooks.example.com:{port}"
        assert got.path == "/in"
    finally:
        receiver.stop()
    assert url.startswith("http://127.0.0.1:")
