"""Telling messaging that a payment or plan happened, so the message that led to it is credited."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import (
    Account,
)
from messaging.services import conversion_attribute

logger = logging.getLogger(__name__)


def conversion_notify(*, account_id: int, kind: str, at: datetime, reference: str = "") -> None:
    """Tell messaging a payment or plan happened, so the last message can be marked converted.

    `reference` is the payment or plan id, so a repeat is credited once. Runs after commit;
    a failure there never undoes the debtor's payment.
    """
    try:
        conversion_attribute(
            account=Account.objects.get(pk=account_id), at=at, kind=kind, reference=reference
        )
    except Exception:
        logger.exception("conversion_attribute failed for account %s", account_id)


def _conversion_after_commit(account_id: int, kind: str, reference: str) -> None:
    at = timezone.now()
    transaction.on_commit(
        lambda: conversion_notify(account_id=account_id, kind=kind, at=at, reference=reference)
    )
