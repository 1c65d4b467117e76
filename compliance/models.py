"""Models of the compliance app (filled in by its own issue)."""
