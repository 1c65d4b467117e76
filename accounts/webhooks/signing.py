"""The signature of a delivery: `Collections-Signature: t=<unix time>,v1=<hex>[,v1=<hex>]`.

Each `v1` is the hex HMAC-SHA256, keyed with one of the endpoint's signing secrets (the whole
`whsec_...` string, UTF-8), of `"<t>.<raw body>"`. There are two `v1` entries during the 24
hours after a roll (the new secret's and the old one's), so a receiver still holding the old
secret keeps accepting deliveries. The receiver checks a `v1` in constant time and refuses a
`t` more than 5 minutes away from its clock (a replayed delivery); docs/webhooks.md has the
receiver's code in Python and Node.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

SIGNATURE_HEADER = "Collections-Signature"
EVENT_ID_HEADER = "Collections-Event-Id"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `"<timestamp>.<body>"` keyed with `secret`."""
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """The `Collections-Signature` value: the time, then one `v1=` per secret."""
    return ",".join(
        [f"t={timestamp}", *(f"v1={signature(secret, timestamp, body)}" for secret in secrets)]
    )
