"""Models of the messaging app (filled in by its own issue)."""
