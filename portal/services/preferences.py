"""The debtor's contact preferences: channels, time windows and language."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import (
    ActivityKind,
    Debtor,
)
from accounts.services import (
    activity_record,
    debtor_preferences_set,
)
from portal.services.common import (
    ACTOR,
    CHANNELS,
    PortalError,
)

logger = logging.getLogger(__name__)

# --- Contact preferences ----------------------------------------------------------------------

TIME_WINDOWS: dict[str, tuple[time, time] | None] = {
    "any": None,
    "morning": (time(8), time(12)),
    "afternoon": (time(12), time(17)),
    "evening": (time(17), time(21)),
}


def time_window_of(debtor: Debtor) -> str:
    """The name of the debtor's preferred window (`any` when none or a custom one)."""
    current = (debtor.preferred_hours_start, debtor.preferred_hours_end)
    for name, hours in TIME_WINDOWS.items():
        if hours is not None and hours == current:
            return name
    return "any"


def preferences_update(
    *, debtor: Debtor, preferred_channel: str, time_window: str, opted_out: Iterable[str]
) -> Debtor:
    """Save the debtor's channel, time of day and opt-outs (`opted_out_<channel>` flags).

    These are hard constraints: compliance blocks opted-out channels and the planner keeps to
    the preferred hours. Checks the choice, then `accounts.services.debtor_preferences_set`
    writes it with one `preference_change` entry, plus one `opted_out` entry per channel
    newly opted out of.
    """
    chosen = set(opted_out)
    if not chosen <= set(CHANNELS):
        raise PortalError(_("Unknown channel."))
    if preferred_channel and preferred_channel not in CHANNELS:
        raise PortalError(_("Unknown channel."))
    if preferred_channel in chosen:
        raise PortalError(_("Your preferred channel cannot be one you opted out of."))
    if time_window not in TIME_WINDOWS:
        raise PortalError(_("Choose a time of day."))
    hours = TIME_WINDOWS[time_window] or (None, None)
    return debtor_preferences_set(
        debtor=debtor,
        preferred_channel=preferred_channel,
        hours=hours,
        opted_out=chosen,
        channels=CHANNELS,
        actor=ACTOR,
        where="in the portal",
        data={"time_window": time_window},
    )


def language_set(*, debtor: Debtor, language: str) -> None:
    """Remember a verified debtor's language choice on their record (messages use it too)."""
    if language not in dict(settings.LANGUAGES) or debtor.language == language:
        return
    with transaction.atomic():
        old = debtor.language
        Debtor.objects.filter(pk=debtor.pk).update(language=language, updated_at=timezone.now())
        activity_record(
            debtor=debtor,
            kind=ActivityKind.PREFERENCE_CHANGE,
            summary=f"Language changed to {language} in the portal.",
            data={"language": language, "from": old},
            actor=ACTOR,
        )
    debtor.language = language
