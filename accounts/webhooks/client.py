"""One POST of a delivery to its checked target, with `requests`.

- connects to the address `safety.target_resolve` checked (pinned), while the Host header,
  TLS SNI and the certificate check use the URL's host name;
- no redirects followed (a 3xx is a failed attempt), no proxies from the environment (they
  would connect elsewhere than the checked address);
- 10 seconds to connect and 10 to wait for each read; an answer that took longer in all is
  a failure even if it is a 2xx;
- at most the first 1 KiB of the answer's body is read and kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter

from accounts.webhooks.safety import Target

TIMEOUT_SECONDS = 10
BODY_KEPT = 1024


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int | None
    body: str
    latency_ms: int
    error: str

    @property
    def succeeded(self) -> bool:
        return (
            self.status_code is not None
            and 200 <= self.status_code < 300
            and self.latency_ms <= TIMEOUT_SECONDS * 1000
            and not self.error
        )


class _PinnedHTTPS(HTTPAdapter):
    """Connects to an IP address while TLS uses the URL's host name (SNI and certificate)."""

    def __init__(self, host: str) -> None:
        self._host = host
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["server_hostname"] = self._host
        kwargs["assert_hostname"] = self._host
        super().init_poolmanager(*args, **kwargs)


def _url(target: Target) -> str:
    address = f"[{target.address}]" if ":" in target.address else target.address
    return f"{target.scheme}://{address}:{target.port}{target.path}"


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def post(target: Target, body: bytes, headers: dict[str, str]) -> Answer:
    """POST `body` to `target`; the answer, or the error that prevented one."""
    session = requests.Session()
    session.trust_env = False
    session.mount("https://", _PinnedHTTPS(target.host))
    session.mount("http://", HTTPAdapter(max_retries=0))
    started = time.monotonic()
    try:
        response = session.post(
            _url(target),
            data=body,
            headers={
                **headers,
                "Host": _host_header(target),
                "Content-Type": "application/json",
                "User-Agent": "Collections-Webhooks/1",
            },
            timeout=(TIMEOUT_SECONDS, TIMEOUT_SECONDS),
            allow_redirects=False,
            stream=True,
        )
        try:
            head = response.raw.read(BODY_KEPT, decode_content=True) or b""
        finally:
            response.close()
        latency = int((time.monotonic() - started) * 1000)
        error = "" if latency <= TIMEOUT_SECONDS * 1000 else "Answered after more than 10 s."
        text = head[:BODY_KEPT].decode("utf-8", errors="replace")
        return Answer(response.status_code, text, latency, error)
    except requests.RequestException as exc:
        latency = int((time.monotonic() - started) * 1000)
        return Answer(None, "", latency, _error_words(exc))
    finally:
        session.close()


def _error_words(exc: requests.RequestException) -> str:
    """A short description of a failed request (no URL: it may carry a token of the
    creditor's)."""
    if isinstance(exc, requests.Timeout):
        return "Timed out after 10 s."
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error: the certificate could not be verified."
    if isinstance(exc, requests.ConnectionError):
        return "Could not connect."
    return f"Request failed: {type(exc).__name__}."
