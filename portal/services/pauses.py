"""The scheduled end of breathing spaces whose last day has passed.

A pause (`requests.pause_request`) lasts until `paused_until`, a date on the debtor's own
calendar, that day included. `pauses_end_expired` (schedule `portal.pauses_end`, hourly, and
`manage.py pauses_end`) moves each account whose pause is over back into collection through
`accounts.services.account_pause_end`: the status, its timeline entry and the
`account.status_changed` and `pause.ended` webhook events in one transaction per account.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.utils import timezone

from accounts.models import Account, AccountStatus
from accounts.services import account_pause_end
from portal.selectors import debtor_zone

logger = logging.getLogger(__name__)

ACTOR = "system"


def pauses_end_expired(*, now: datetime | None = None) -> int:
    """End every pause whose last day is over on its debtor's calendar; returns how many ended.

    Idempotent and safe in two workers at once: each account is taken under its row lock and
    checked again there (`account_pause_end`), and one another transaction holds is left for
    the next run. A `paused` account without an end date (paused other than by a pause
    request, as the demo seeder does) is left alone.
    """
    now = now or timezone.now()
    # No debtor's date is more than a day ahead of UTC's (UTC+14 at most), so a pause that is
    # over anywhere ended on UTC's today or before; the debtor's own date decides.
    latest = now.astimezone(UTC).date()
    candidates = (
        Account.objects.filter(status=AccountStatus.PAUSED, paused_until__lte=latest)
        .select_related("debtor")
        .order_by("pk")
    )
    ended = 0
    for account in list(candidates):
        today = now.astimezone(debtor_zone(account.debtor)).date()
        if account.paused_until >= today:
            continue
        if account_pause_end(account=account.pk, today=today, actor=ACTOR) is not None:
            ended += 1
    if ended:
        logger.info("pauses_end_expired: %d pauses ended", ended)
    return ended
