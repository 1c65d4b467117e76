"""API keys of the creditor API: shown once, stored as a hash, named, expiring and revocable.

docs/api.md (Authentication) is the creditor's view; docs/security.md says how keys are kept.
"""
