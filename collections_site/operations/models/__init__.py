"""The cockpit's rollups: small tables of daily counts, kept up to date by
`collections_site.operations.rollups` so that no cockpit page scans messages, events or
payments per request (docs/operations.md, "Rollups").

Every rollup row is one UTC day x creditor x the dimensions its page filters and groups by.
They are derived data: `rollups_refresh` rebuilds any day from the source tables, so a row
is never edited by hand and losing the tables loses nothing.
"""

from collections_site.operations.models.compliance import (
    CheckOutcome,
    ComplianceDay,
    ComplianceReasonDay,
)
from collections_site.operations.models.engagement import (
    EngagementDay,
    OutboxStatusDay,
    RollupState,
    SendTimeDay,
    TypologyDay,
)
from collections_site.operations.models.recovery import (
    AccountStatusDay,
    CollectedDay,
    InstalmentDay,
    InstalmentOutcome,
    PlacementDay,
)

__all__ = [
    "AccountStatusDay",
    "CheckOutcome",
    "CollectedDay",
    "ComplianceDay",
    "ComplianceReasonDay",
    "EngagementDay",
    "InstalmentDay",
    "InstalmentOutcome",
    "OutboxStatusDay",
    "PlacementDay",
    "RollupState",
    "SendTimeDay",
    "TypologyDay",
]
