"""Where a webhook may be sent (SSRF): https on a public address.

A creditor chooses the URL, so without checks the platform's own network would be reachable
through it: the cloud metadata service (169.254.169.254), the database, the admin on
localhost. `target_resolve` refuses, when the endpoint is saved and again at each delivery:

- a scheme other than https (plain http too while `DEBUG` or `WEBHOOKS_ALLOW_PRIVATE_TARGETS`),
  user names or passwords in the URL, and ports outside 1-65535;
- a host any of whose addresses is not public: loopback, private (RFC 1918, unique local
  IPv6), link-local (with the metadata address), shared (100.64.0.0/10, also Alibaba's
  metadata 100.100.100.200), multicast, reserved, unspecified, documentation ranges, and the
  IPv4 address inside an IPv4-mapped, NAT64 or 6to4 IPv6 address is judged as IPv4.

The delivery connects to the address checked here (`Target.address`), not to a second look-up
of the name, so a name that resolves to a public address when checked and to a private one a
moment later (DNS rebinding) does not reach the private one. `WEBHOOKS_ALLOW_PRIVATE_TARGETS`
lifts the address rules for development and tests (a receiver on localhost).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from accounts.models import DomainError

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Named for the reader (each is also not global, so refused anyway).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)


class TargetRefused(DomainError):
    """A webhook URL the platform will not send to; the message says why."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: where to connect (`address`, `port`) and what to ask for."""

    scheme: str
    host: str  # as in the URL (the Host header, TLS SNI and certificate name)
    port: int
    address: str  # the checked IP address to connect to
    path: str  # path and query


def _private_allowed() -> bool:
    return settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS


def address_problem(address: str) -> str | None:
    """Why `address` may not be a webhook target, or None when it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6:
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            ip = embedded
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for test, words in (
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_unspecified", "an unspecified address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private address"),
    ):
        if getattr(ip, test):
            return words
    if not ip.is_global:
        return "not a public address"
    return None


def url_parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path and query) of an acceptable URL, or `TargetRefused`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused("Enter a valid URL.") from exc
    scheme = parts.scheme.lower()
    plain_ok = settings.DEBUG or _private_allowed()
    if scheme != "https" and not (scheme == "http" and plain_ok):
        raise TargetRefused("The URL must use https.")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("The URL may not contain a user name or password.")
    host = parts.hostname
    if not host:
        raise TargetRefused("Enter a valid URL.")
    if port is None:
        port = 443 if scheme == "https" else 80
    if not 1 <= port <= 65535:
        raise TargetRefused("Enter a valid URL.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme, host, port, path


def target_resolve(url: str) -> Target:
    """The checked target of `url`: its host resolved, every address public (unless
    `WEBHOOKS_ALLOW_PRIVATE_TARGETS`); `TargetRefused` otherwise."""
    scheme, host, port, path = url_parse(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"The host {host[:100]} cannot be resolved.") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise TargetRefused(f"The host {host[:100]} cannot be resolved.")
    if not _private_allowed():
        for address in addresses:
            problem = address_problem(address)
            if problem is not None:
                raise TargetRefused(f"The URL's host resolves to {problem}, which is refused.")
    return Target(scheme=scheme, host=host, port=port, address=addresses[0], path=path)
