"""django-q2 tasks of the operations cockpit. Schedule: migration 0002 (`rollups_refresh`
every five minutes). Safe to run twice or side by side: a refresh rebuilds whole days."""

from __future__ import annotations

from typing import Any

from collections_site.operations.rollups import rollups_refresh


def rollups_refresh_task() -> list[dict[str, Any]]:
    """Every five minutes: fold the sources' changes into the cockpit's rollups."""
    return [r.__dict__ for r in rollups_refresh()]
