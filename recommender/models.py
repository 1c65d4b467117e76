"""Models of the recommender app (filled in by its own issue)."""
