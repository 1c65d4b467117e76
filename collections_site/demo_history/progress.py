"""What the Health page shows of the demo history (`operations/_demo_progress.html`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from collections_site.demo_history.models import DemoHistory, DemoHistoryStatus

SHOWN_COUNTS = ("sent", "opened", "clicked", "paid", "plan agreed", "models promoted")


@dataclass(frozen=True)
class Progress:
    status: str
    days_done: int
    days: int
    debtors: int
    started_at: datetime | None
    finished_at: datetime | None
    seconds: float
    error: str
    counts: list[tuple[str, str]]

    @property
    def debtors_text(self) -> str:
        return f"{self.debtors:,}"

    @property
    def building(self) -> bool:
        return self.status in (DemoHistoryStatus.QUEUED, DemoHistoryStatus.RUNNING)


def demo_progress() -> Progress | None:
    """The demo history's progress, or None when this installation has none (production)."""
    row = DemoHistory.objects.filter(key=DemoHistory.KEY).first()
    if row is None:
        return None
    return Progress(
        status=row.status,
        days_done=row.days_done,
        days=row.days,
        debtors=row.debtors,
        started_at=row.started_at,
        finished_at=row.finished_at,
        seconds=row.seconds,
        error=row.error,
        counts=[(name, f"{int(row.counts.get(name, 0)):,}") for name in SHOWN_COUNTS],
    )
