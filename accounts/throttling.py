"""Rate limits of the creditor API, per API key: a burst rate and a sustained rate.

Rates are DRF's `DEFAULT_THROTTLE_RATES` (`"60/min"`, `"5000/day"`; `None` turns a limit
off), read on every request, under two names per family: `<family>_burst` and
`<family>_sustained`. A view's `throttle_scope` names its family (`placements`); every other
view is in `api`. Each family has its own counters, so a sync that places accounts does not
use up the reads, and each key has its own, so one integration cannot starve another.

Counters live in Django's default cache: one integer per key, family and window, increased
atomically (`cache.incr`: Redis INCR, or the local-memory cache's lock). Windows are fixed
and aligned to the clock: minutes start at :00, days at 00:00 UTC. DRF's own
`SimpleRateThrottle` keeps instead a list of every request's time in one cache entry that
each request reads and writes back: 5,000 entries for a daily limit, and two workers writing
at once lose each other's requests.

With the local-memory cache (no `REDIS_URL`) each process counts on its own: with several
gunicorn workers a key may make up to (number of workers) times the limit, depending on which worker
answers, and a restart starts from zero. Production sets `REDIS_URL` (docs/api.md).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from django.core.cache import cache
from rest_framework.exceptions import Throttled
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

WINDOWS = ("burst", "sustained")
DEFAULT_FAMILY = "api"
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PERIOD_NAMES = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}


def parse_rate(rate: str) -> tuple[int, int]:
    """`"60/min"` → (60, 60): requests, and the window in seconds."""
    number, period = rate.split("/")
    return int(number), _PERIODS[period.strip()[0]]


class RateLimited(Throttled):
    """429: this key made `limit` requests of this family in the current window already."""

    def __init__(self, *, until: int, now: float, limit: int, period: int, family: str) -> None:
        """`until`: when the window ends (a POSIX time)."""
        self.limit, self.period, self.family = limit, period, family
        self.retry_at = datetime.fromtimestamp(until, tz=UTC)
        wait = max(1, math.ceil(until - now))
        what = "placements" if family == "placements" else "requests"
        super().__init__(
            detail=(
                f"Too many {what} with this API key: at most {limit} a "
                f"{_PERIOD_NAMES.get(period, f'{period} seconds')}. Retry after "
                f"{self.retry_at:%Y-%m-%dT%H:%M:%SZ}."
            )
        )
        self.wait = wait

    def body(self) -> dict:
        return {
            "detail": str(self.detail),
            "retry_after": self.wait,
            "retry_at": self.retry_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "limit": self.limit,
            "period_seconds": self.period,
        }


class ApiKeyRateThrottle(BaseThrottle):
    """The burst and the sustained limit of the view's family, counted per API key.

    Checked in that order, and a request refused by the burst limit is not counted against
    the sustained one: a client that retries too fast does not use up its day.
    """

    timer = time.time

    def allow_request(self, request, view) -> bool:
        ident = _ident(request)
        if ident is None:
            return True  # not authenticated: refused before it is ever counted
        family = getattr(view, "throttle_scope", None) or DEFAULT_FAMILY
        rates = api_settings.DEFAULT_THROTTLE_RATES
        now = self.timer()
        for window in WINDOWS:
            rate = rates.get(f"{family}_{window}")
            if not rate:
                continue
            limit, period = parse_rate(rate)
            start = int(now // period) * period
            count = _count(
                f"api-rate:{family}:{window}:{ident}:{start}", timeout=start + period - now + 5
            )
            if count > limit:
                raise RateLimited(
                    until=start + period, now=now, limit=limit, period=period, family=family
                )
        return True


def _ident(request) -> str | None:
    key = getattr(request, "auth", None)
    if key is not None and hasattr(key, "prefix"):
        # The prefix too, so counters never pass from a deleted key to a new one with its id.
        return f"key{key.pk}.{key.prefix}"
    user = getattr(request, "user", None)
    if getattr(user, "is_authenticated", False):
        return f"user{user.pk}"
    return None


def _count(cache_key: str, *, timeout: float) -> int:
    """This window's count, including this request."""
    try:
        return cache.incr(cache_key)
    except ValueError:  # the window's first request
        if cache.add(cache_key, 1, timeout=math.ceil(timeout)):
            return 1
        return cache.incr(cache_key)  # another process made it in between
