"""The channel backend interface and the values that cross it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Outbound:
    """Exactly what a backend transmits for one message; built by messaging from the frozen
    content (tracking links and headers added), so backends never see models."""

    message_id: int
    channel: str
    recipient: str
    subject: str
    text: str
    html: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    status_callback: str = ""


@dataclass(frozen=True, slots=True)
class HandOff:
    """A backend's receipt: who took the message and the id they gave it."""

    provider: str
    provider_id: str


class BackendError(Exception):
    """The backend did not take the message. `permanent` errors fail the message; others are
    retried later (the message was certainly not handed over, so retrying is safe).

    `uncertain`: the request may have reached the provider (a timeout after sending): the
    message is treated like an interrupted hand-off (reconciled, never blindly repeated).
    """

    def __init__(self, message: str, *, permanent: bool = False, uncertain: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.uncertain = uncertain


class ChannelBackend:
    """Base class. Subclasses implement `send` and, when they can, `reconcile`.

    `idempotent`: handing the same message over twice has no second effect (the file backends
    write one file per message id), so dispatch may hand over many messages per recorded
    batch and may retry an interrupted hand-off. Non-idempotent backends (SMTP, Twilio) get one
    recorded hand-off per message, and an interrupted one is never repeated unless
    `reconcile` proves it did not happen.
    """

    name = "base"
    idempotent = False

    def __init__(self, *, channel: str) -> None:
        self.channel = channel

    def open(self) -> None:
        """Prepare for a run of `send` calls (e.g. open one SMTP connection)."""

    def close(self) -> None:
        """End a run of `send` calls."""

    def send(self, outbound: Outbound) -> HandOff:
        """Hand one message over; return the receipt or raise `BackendError`."""
        raise NotImplementedError

    def reconcile(self, outbound: Outbound) -> HandOff | bool | None:
        """After a crash mid hand-off: the receipt if it was handed over, False if it was
        certainly not, None if this backend cannot tell."""
        return None
