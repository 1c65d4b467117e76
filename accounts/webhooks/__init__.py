"""Signed outbound webhooks: a creditor's endpoints, the events of its accounts, payments and
plans (written in the same transaction as the change, a transactional outbox), and their
delivery with retries, signatures and SSRF checks. An app of its own (label `webhooks`)
inside `accounts`, whose services record the events.

docs/webhooks.md is the creditor's view: the event catalogue, payloads, retries and the
signature check.
"""
