"""The simulator's channel backend: takes every message and remembers its id (no provider);
and the settings a simulation runs under, which route every channel to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Receipt:
    """What messaging reads back from a backend's `send` (provider, provider id)."""

    provider: str
    provider_id: str


SIMULATOR_SETTINGS: dict[str, Any] = {
    "MESSAGING_EMAIL_CHANNEL_BACKEND": "recommender.simulator.SimulatedBackend",
    "MESSAGING_SMS_BACKEND": "recommender.simulator.SimulatedBackend",
    "MESSAGING_WHATSAPP_BACKEND": "recommender.simulator.SimulatedBackend",
    "MESSAGING_LETTER_BACKEND": "recommender.simulator.SimulatedBackend",
    # The deployment facts some regions' disclosures need (a real deployment sets them).
    "MESSAGING_DISCLOSURE_VALUES": {
        "collector_name": "Simulated Collections Ltd",
        "collector_address": "1 Simulation Way, Boston MA 02101",
        "creditor_address": "2 Utility Road, Springfield",
        "ca_license_number": "CA-000000",
        "supervisory_authority": "Simulated Authority",
        "interest_calculation": "No interest is charged.",
        "collection_costs": "No collection costs are charged.",
        "vat_statement": "No VAT is charged.",
        "address_source": "Your address was provided by the creditor.",
        "payment_methods": "card, bank transfer",
    },
}
"""Messaging's settings a simulation needs in effect (messaging reads them only from
settings): every channel to `SimulatedBackend`, and the disclosures' deployment facts. What
sets up the throwaway database applies them (`manage.py simulate`, the bench, the tests);
`simulate` refuses to run without the simulated backends."""


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
