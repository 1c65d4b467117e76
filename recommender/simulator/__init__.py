"""A simulated world of debtors that runs the real contact cycle day by day.

`simulate(...)` places debtors through `accounts.services.placement_upsert`, publishes a
variant library through Wagtail revisions, and then, hour by simulated hour (the clock is
moved with time-machine): runs `recommender.services.plan_contacts` (daily), messaging's
`dispatch_due` (hourly; compliance re-checks every message), hands messages to
`SimulatedBackend` (configured as every channel's backend by dotted path, as messaging
allows), lets the simulated debtors open, click and pay (`messaging.services.events_record`,
`accounts.services.payment_record` / `plan_create`, then `conversion_attribute`, as the
portal does), recomputes typologies and retrains nightly (`typology_refresh`,
`model_retrain`). Nothing of the pipeline is re-implemented here: only the debtors are fake.

Modules: `backend.py` (the channel backend and the settings that route every channel to
it), `world.py` (hidden traits and the response model: the ground truth; docs/simulator.md),
`run.py` (the run loop, `simulate`, the retraining it runs), `report.py` (the summary, the
export, the learning-curve plot).
"""

from recommender.simulator.backend import (
    OUTBOX,
    SIMULATOR_SETTINGS,
    Receipt,
    SimulatedBackend,
)
from recommender.simulator.report import dump
from recommender.simulator.run import (
    SIMULATOR_RETRAIN,
    MessageOutcome,
    Simulation,
    SimulationConfig,
    simulate,
)
from recommender.simulator.world import LIB_CHANNELS, LIB_CTAS, LIB_TONES, REGIONS, World

__all__ = [
    "LIB_CHANNELS",
    "LIB_CTAS",
    "LIB_TONES",
    "OUTBOX",
    "REGIONS",
    "SIMULATOR_RETRAIN",
    "SIMULATOR_SETTINGS",
    "MessageOutcome",
    "Receipt",
    "SimulatedBackend",
    "Simulation",
    "SimulationConfig",
    "World",
    "dump",
    "simulate",
]
