"""Reads of the compliance app: the effective rules (cached) and the contact ledger.

``ruleset_current()`` returns every region's rules as loaded from the database, compiled lazily
per region and cached in the process until the rules change. Change detection: every rule
change (admin, loader, services) writes a new token to ``RuleSetVersion`` in its transaction;
this process re-reads that token at most every ``COMPLIANCE_RULES_RECHECK_SECONDS`` (default 2)
and rebuilds when it differs, and a change made in this process clears the cache at once. Used
by ``compliance.services`` (contact checks, disclosures), the ``compliance_check`` command and
the admin's cases page.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import transaction
from django.db.models import Func, IntegerField, Max

from compliance import engine, packs
from compliance.models import (
    RULE_MODELS,
    ContactAttempt,
    Region,
    RegionHoliday,
    RuleSetVersion,
)
from compliance.rules import engine_rule

log = logging.getLogger(__name__)

_UNBOUNDED = -1


@dataclass
class RuleSet:
    """All regions' rules at one rules version, as engine values; compiled per region on use.

    ``packs`` holds one ``packs.Pack`` per database region, so region resolution, the parent
    chain and the default fallback are exactly those of ``compliance.packs``.
    """

    token: str
    packs: dict[str, packs.Pack]
    _rules: dict[str, engine.EffectiveRules] = field(default_factory=dict, repr=False)
    _holidays: dict[str, Callable[[date], bool]] = field(default_factory=dict, repr=False)
    _lookback: dict[str, tuple[tuple[frozenset[str], int], ...]] = field(
        default_factory=dict, repr=False
    )
    _first_conv: dict[str, bool] = field(default_factory=dict, repr=False)

    def resolve(self, code: str) -> str:
        """The region whose rules apply to a debtor region code (nearest known ISO parent)."""
        return packs.region_resolve(code or packs.DEFAULT_CODE, self.packs)

    def rules(self, code: str) -> engine.EffectiveRules:
        """Compiled effective rules: own + ancestors' + default fallbacks."""
        found = self._rules.get(code)
        if found is None:
            found = self._rules[code] = packs.effective_rules(self.resolve(code), self.packs)
        return found

    def holidays(self, code: str) -> Callable[[date], bool]:
        """``date -> bool``: the package calendar of the nearest region naming a country, plus
        the extra dates of every region in the chain (loaded per year, on use)."""
        found = self._holidays.get(code)
        if found is None:
            found = self._holidays[code] = packs.holiday_predicate(self.resolve(code), self.packs)
        return found

    def lookback_days(self, code: str, flags: Iterable[str]) -> int | None:
        """How many days of history the caps and quiet periods that can apply need.

        0: no history needed; None: unbounded (an ``ever`` cap applies).
        """
        spans = self._lookback.get(code)
        if spans is None:
            spans = self._lookback[code] = self._spans(code)
        flags = frozenset(flags)
        days = 0
        for when, span in spans:
            if when <= flags:
                if span == _UNBOUNDED:
                    return None
                days = max(days, span)
        return days

    def _spans(self, code: str) -> tuple[tuple[frozenset[str], int], ...]:
        out = []
        for r in self.rules(code).rules:
            if isinstance(r, engine.CapRule):
                span = {
                    "rolling_days": r.days,
                    "calendar_day": 1,
                    "calendar_week": 7,
                    "calendar_month": 31,
                }.get(r.period, _UNBOUNDED)
                out.append((r.when_flags, span))
            elif isinstance(r, engine.QuietRule):
                out.append((r.when_flags, r.days))
        return tuple(out)

    def needs_first_conversation(self, code: str) -> bool:
        """True if a cap applies only after the first live conversation (which may be old)."""
        found = self._first_conv.get(code)
        if found is None:
            found = self._first_conv[code] = any(
                isinstance(r, engine.CapRule) and r.after_first_conversation
                for r in self.rules(code).rules
            )
        return found

    def time_zone(self, code: str) -> str:
        """The default IANA zone of the region that applies to a code."""
        return self.packs[self.resolve(code)].time_zone


# --- The cache --------------------------------------------------------------------------------

_lock = threading.Lock()
_state: dict[str, object] = {"token": None, "checked": 0.0, "ruleset": None}


def rules_cache_reset() -> None:
    """Forget the cached token and rules in this process (tests call it between tests)."""
    _state.update(token=None, checked=0.0, ruleset=None)


def rules_cache_clear() -> None:
    """Forget the cached token and rules now and again after commit (a rule changed here)."""
    rules_cache_reset()
    transaction.on_commit(rules_cache_reset)


def rules_token() -> str:
    """The current rules version token (re-read from the database every few seconds)."""
    now = time.monotonic()
    token = _state["token"]
    ttl = settings.COMPLIANCE_RULES_RECHECK_SECONDS
    if token is None or now - _state["checked"] >= ttl:  # type: ignore[operator]
        token = RuleSetVersion.objects.filter(pk=1).values_list("token", flat=True).first() or ""
        _state.update(token=token, checked=now)
    return token  # type: ignore[return-value]


def ruleset_current() -> RuleSet:
    """The rules of every region at the current version, from the cache when it is fresh."""
    token = rules_token()
    ruleset = _state["ruleset"]
    if isinstance(ruleset, RuleSet) and ruleset.token == token:
        return ruleset
    with _lock:
        ruleset = _state["ruleset"]
        if not (isinstance(ruleset, RuleSet) and ruleset.token == token):
            ruleset = RuleSet(token=token, packs=packs_from_database())
            _state["ruleset"] = ruleset
    return ruleset  # type: ignore[return-value]


def packs_from_database() -> dict[str, packs.Pack]:
    """Every region with its enabled rules, as ``packs.Pack`` values (the engine's input).

    Without a ``default`` region in the database the shipped default pack is used, so that even
    an empty database never means "allow everything".
    """
    regions = list(
        Region.objects.values(
            "id",
            "code",
            "name",
            "parent__code",
            "time_zone",
            "holiday_country",
            "holiday_subdivision",
            "holiday_categories",
        )
    )
    codes = {r["id"]: r["code"] for r in regions}
    extra: dict[int, set[date]] = defaultdict(set)
    for region_id, day in RegionHoliday.objects.values_list("region_id", "date"):
        extra[region_id].add(day)
    rules: dict[int, list[tuple[int, int, int, engine.Rule]]] = defaultdict(list)
    for kind_index, (kind, model) in enumerate(RULE_MODELS.items()):
        for row in model.objects.filter(enabled=True):
            # Fail closed: an invalid row stops checks rather than silently dropping a rule.
            rule = engine_rule(row, kind, region=codes[row.region_id])
            rules[row.region_id].append((row.position, kind_index, row.pk, rule))
    out: dict[str, packs.Pack] = {}
    for r in regions:
        holidays = None
        if r["holiday_country"] or extra.get(r["id"]):
            holidays = packs.HolidaySpec(
                country=r["holiday_country"] or None,
                subdivision=r["holiday_subdivision"] or None,
                categories=tuple(r["holiday_categories"] or ()),
                extra_dates=frozenset(extra.get(r["id"], ())),
            )
        out[r["code"]] = packs.Pack(
            code=r["code"],
            name=r["name"],
            parent=r["parent__code"],
            time_zone=r["time_zone"],
            holidays=holidays,
            rules=tuple(rule for *_, rule in sorted(rules[r["id"]], key=lambda t: t[:3])),
        )
    if packs.DEFAULT_CODE not in out:
        log.warning("compliance: no default region in the database; using the shipped default")
        out[packs.DEFAULT_CODE] = packs.packs_load()[packs.DEFAULT_CODE]
    return out


def region_rules(code: str) -> engine.EffectiveRules:
    """The effective rules of a region code right now (for the admin and other readers)."""
    return ruleset_current().rules(code)


@lru_cache(maxsize=512)
def zone_get(name: str) -> ZoneInfo | None:
    """A ZoneInfo by IANA name, or None if unknown (cached, including misses)."""
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


# --- The ledger -------------------------------------------------------------------------------

LedgerRow = tuple[int, int | None, str, int, str]
"""(debtor id, account id or None, channel, at as Unix seconds, outcome)."""


class EpochSeconds(Func):
    """A datetime column as whole Unix seconds.

    Reading integers is several times faster than reading ``timestamptz`` through Django's
    psycopg loader, and ``datetime.fromtimestamp(s, zone)`` gives the wall clock directly.
    Seconds are enough: the engine works to the minute.
    """

    output_field = IntegerField()
    template = "FLOOR(EXTRACT(EPOCH FROM %(expressions)s))::bigint"

    def as_sqlite(self, compiler, connection, **extra):
        # '%%%%s' survives two rounds of %-formatting (template, then query parameters).
        template = "CAST(strftime('%%%%s', %(expressions)s) AS INTEGER)"
        return self.as_sql(compiler, connection, template=template)


_CHUNK = 5000  # debtor ids per ledger query: inside every backend's parameter limit


def ledger_rows(*, debtor_ids: Iterable[int], since: datetime | None) -> list[LedgerRow]:
    """Contact attempts of these debtors at or after ``since`` (None: all of them)."""
    ids = sorted(set(debtor_ids))
    out: list[LedgerRow] = []
    for i in range(0, len(ids), _CHUNK):
        qs = ContactAttempt.objects.filter(debtor_id__any=ids[i : i + _CHUNK]).order_by()
        if since is not None:
            qs = qs.filter(at__gte=since)
        out += qs.annotate(ts=EpochSeconds("at")).values_list(
            "debtor_id", "account_id", "channel", "ts", "outcome"
        )
    return out


def last_conversations(*, debtor_ids: Iterable[int], before: datetime) -> list[LedgerRow]:
    """Per (debtor, account, channel): the latest live conversation before ``before``."""
    ids = sorted(set(debtor_ids))
    out: list[LedgerRow] = []
    for i in range(0, len(ids), _CHUNK):
        rows = (
            ContactAttempt.objects.filter(
                debtor_id__any=ids[i : i + _CHUNK], outcome="conversation", at__lt=before
            )
            .order_by()
            .values("debtor_id", "account_id", "channel")
            .annotate(last=Max(EpochSeconds("at")))
            .values_list("debtor_id", "account_id", "channel", "last")
        )
        out += [(d, a, c, last, "conversation") for d, a, c, last in rows]
    return out
