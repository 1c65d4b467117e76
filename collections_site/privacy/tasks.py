"""django-q2 task of the privacy app (schedule `privacy.retention_apply`, daily)."""

from __future__ import annotations

import logging

from collections_site.privacy import services

logger = logging.getLogger(__name__)


def retention_apply() -> dict[str, int]:
    """Apply every retention period; safe to run twice (what is gone is not selected again)."""
    lines = services.retention_apply(dry_run=False)
    done = {f"{line.kind}:{line.region}": line.count for line in lines if line.count}
    # Counts per kind and region only: no personal data in logs.
    logger.info("retention applied: %s", done or "nothing due")
    return done
