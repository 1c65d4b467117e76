"""The simulator's channel backend: takes every message and remembers its id (no provider)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Receipt:
    """What messaging reads back from a backend's `send` (provider, provider id)."""

    provider: str
    provider_id: str


OUTBOX: list[tuple[int, str]] = []
"""(message id, channel) of every message handed to the simulated backend, in order."""


class SimulatedBackend:
    """A channel backend for the simulator: takes every message and remembers its id.

    Follows messaging's backend interface (`name`, `idempotent`, `open`, `close`, `send`,
    `reconcile`) by duck typing, so nothing outside messaging imports messaging's backends.
    Configure with MESSAGING_{EMAIL_CHANNEL,SMS,WHATSAPP,LETTER}_BACKEND =
    "recommender.simulator.SimulatedBackend".
    """

    name = "simulated"
    idempotent = True

    def __init__(self, *, channel: str) -> None:
        self.channel = channel

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, outbound: Any) -> Receipt:
        OUTBOX.append((outbound.message_id, self.channel))
        return Receipt(self.name, f"sim-{outbound.message_id}")

    def reconcile(self, outbound: Any) -> Receipt | None:
        return Receipt(self.name, f"sim-{outbound.message_id}")
