"""Settings package: `base` holds everything, read from the environment; `test` for pytest."""
