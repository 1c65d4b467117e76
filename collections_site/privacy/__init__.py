"""The debtor's privacy rights, built into the product (docs/privacy.md).

The subject access export, erasure with legal holds, retention, and the staff access log's
admin. Each app offers a small `privacy` module for its own models (`accounts.privacy`,
`compliance.privacy`, `messaging.privacy`, `recommender.privacy`, `portal.privacy`); this
project-level app, which may import every app, puts them together: one archive, one erasure
transaction, one retention run.
"""
