"""Writes of the compliance app: the contact ledger, contact checks (audited), rule changes.

The public contract other apps build on (messaging calls these before every send and at
delivery; the planner calls the batch form; operators' logged calls use ``contact_record``):

- ``contact_record(*, debtor, channel, at, outcome, source, account=None, reference=None,
  timeline=False, actor="system") -> ContactAttempt``
- ``contacts_record_many(*, contacts) -> list[ContactAttempt]`` (the same, batched)
- ``contact_check(*, debtor, channel, at, account=None, purpose="send") -> CheckResult``
- ``contacts_check_many(*, checks, audit=True) -> list[CheckResult]``
- ``disclosures_required(*, region, channel, language, initial=False, on=None)
  -> list[engine.Disclosure]``
- ``rule_change_record(...)`` and ``rule_packs_load(...)`` for the admin and the loader.

Compliance never imports messaging: it receives the contact history through the ledger.
Rules come from the database (``compliance.selectors.ruleset_current``, cached), never from
the JSON files directly. See docs/compliance.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone as dj_tz

from accounts.bulk import bulk_insert, bulk_update_by_pk
from accounts.models import Account, AccountStatus, ActivityKind, Debtor, DomainError
from accounts.services import activity_record
from compliance import engine
from compliance.loading import LoadReport, changes_record, rule_packs_load
from compliance.models import ComplianceDecision, ContactAttempt
from compliance.selectors import (
    RuleSet,
    last_conversations,
    ledger_rows,
    ruleset_current,
    zone_get,
)

__all__ = [
    "CheckRequest",
    "CheckResult",
    "LedgerError",
    "LoadReport",
    "contact_check",
    "contact_record",
    "contacts_check_many",
    "contacts_record_many",
    "disclosures_required",
    "local_to_utc",
    "rule_change_record",
    "rule_packs_load",
]

_CHANNELS = frozenset(engine.CHANNELS)
_OUTCOMES = frozenset(engine.OUTCOMES)
_UTC_ZONE = ZoneInfo("UTC")
_SLACK = timedelta(days=1)  # covers any UTC offset when turning local days into a UTC bound


class LedgerError(DomainError):
    """A contact that cannot be recorded (a reference reused for another debtor or channel)."""


# --- The contact ledger -----------------------------------------------------------------------


def _contact_args_check(
    *, debtor: Debtor, channel: str, at: datetime, account: Account | None, outcome: str | None
) -> None:
    """The argument checks shared by recording and checking contacts (ValueError)."""
    if channel not in _CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if outcome is not None and outcome not in _OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be an aware datetime")
    if account is not None and account.debtor_id != debtor.pk:
        raise ValueError("the account belongs to another debtor")


def contact_record(
    *,
    debtor: Debtor,
    channel: str,
    at: datetime,
    outcome: str,
    source: str,
    account: Account | None = None,
    reference: str | None = None,
    timeline: bool = False,
    actor: str = "system",
) -> ContactAttempt:
    """Record an outbound contact in the ledger that caps and quiet periods count.

    ``at`` is an aware datetime (stored in UTC); ``outcome`` one of ``engine.OUTCOMES``
    (``busy``/``failed`` never connected and are not counted as attempts). With a
    ``reference`` (e.g. ``message:<id>``) recording is idempotent: a repeat returns the same
    row, and a different outcome replaces the stored one (hand-off first, then the provider's
    outcome). Record a hand-off before its outcome is known as ``delivered``: it then counts,
    which is the safe side. ``timeline=True`` also writes a ``contact_recorded`` timeline
    entry (for contacts no other service puts on the timeline, e.g. an operator's call).
    """
    _contact_args_check(debtor=debtor, channel=channel, at=at, account=account, outcome=outcome)
    with transaction.atomic():
        if reference:
            existing = ContactAttempt.objects.select_for_update().filter(reference=reference)
            found = existing.first()
            if found is not None:
                return _contact_update(found, debtor, channel, outcome)
        try:
            with transaction.atomic():
                attempt = ContactAttempt.objects.create(
                    debtor=debtor,
                    account=account,
                    channel=channel,
                    at=at.astimezone(UTC),
                    outcome=outcome,
                    source=source[:32],
                    reference=reference or None,
                )
        except IntegrityError:
            # A concurrent call recorded the same reference first: theirs is the row.
            found = ContactAttempt.objects.select_for_update().filter(reference=reference).first()
            if found is None:
                raise
            return _contact_update(found, debtor, channel, outcome)
        if timeline:
            _contact_timeline(attempt, actor=actor)
    return attempt


def contacts_record_many(*, contacts: Iterable[Mapping[str, Any]]) -> list[ContactAttempt]:
    """``contact_record`` for many contacts at once (messaging's dispatch batches), in order.

    Each mapping holds ``contact_record``'s keyword arguments. Same semantics (idempotent by
    ``reference``; a repeat takes the new outcome) in a constant number of queries: one read
    of the known references, one bulk update of changed outcomes, one bulk insert.
    """
    items = [dict(c) for c in contacts]
    for c in items:
        _contact_args_check(
            debtor=c["debtor"],
            channel=c["channel"],
            at=c["at"],
            account=c.get("account"),
            outcome=c["outcome"],
        )
    refs = [c["reference"] for c in items if c.get("reference")]
    if len(refs) != len(set(refs)):
        # The same reference twice in one batch: apply them in order, one by one.
        return [contact_record(**c) for c in items]
    try:
        with transaction.atomic():
            return _contacts_record_bulk(items, refs)
    except IntegrityError:
        # A concurrent call recorded one of these references first: go one by one.
        return [contact_record(**c) for c in items]


def _contacts_record_bulk(items: list[dict[str, Any]], refs: list[str]) -> list[ContactAttempt]:
    known = (
        {
            a.reference: a
            for a in ContactAttempt.objects.select_for_update().filter(reference__in=refs)
        }
        if refs
        else {}
    )
    now = dj_tz.now()
    out: list[ContactAttempt] = []
    new: list[ContactAttempt] = []
    changed: list[ContactAttempt] = []
    for c in items:
        found = known.get(c.get("reference") or "")
        if found is not None:
            _reference_check(found, c["debtor"], c["channel"])
            if found.outcome != c["outcome"]:
                found.outcome, found.updated_at = c["outcome"], now
                changed.append(found)
            out.append(found)
            continue
        attempt = ContactAttempt(
            debtor=c["debtor"],
            account=c.get("account"),
            channel=c["channel"],
            at=c["at"].astimezone(UTC),
            outcome=c["outcome"],
            source=c["source"][:32],
            reference=c.get("reference") or None,
            created_at=now,
            updated_at=now,
        )
        new.append(attempt)
        out.append(attempt)
    if changed:
        bulk_update_by_pk(ContactAttempt, changed, ["outcome", "updated_at"])
    if new:
        ContactAttempt.objects.bulk_create(new, batch_size=1000)
    created = {id(a) for a in new}
    for c, attempt in zip(items, out, strict=True):
        if c.get("timeline") and id(attempt) in created:
            _contact_timeline(attempt, actor=c.get("actor", "system"))
    return out


def _contact_timeline(attempt: ContactAttempt, *, actor: str) -> None:
    """The ``contact_recorded`` timeline entry of a newly recorded contact."""
    activity_record(
        debtor=attempt.debtor,
        account=attempt.account,
        kind=ActivityKind.CONTACT_RECORDED,
        summary=f"{attempt.channel.capitalize()} contact logged: "
        f"{attempt.outcome.replace('_', ' ')}.",
        data={
            "contact_attempt": attempt.pk,
            "channel": attempt.channel,
            "outcome": attempt.outcome,
        },
        actor=actor,
        occurred_at=attempt.at,
    )


def _reference_check(found: ContactAttempt, debtor: Debtor, channel: str) -> None:
    if found.debtor_id != debtor.pk or found.channel != channel:
        raise LedgerError(
            f"Reference {found.reference!r} was recorded for another debtor or channel."
        )


def _contact_update(
    found: ContactAttempt, debtor: Debtor, channel: str, outcome: str
) -> ContactAttempt:
    _reference_check(found, debtor, channel)
    if found.outcome != outcome:
        found.outcome = outcome
        found.updated_at = dj_tz.now()
        found.save(update_fields=["outcome", "updated_at"])
    return found


# --- Contact checks ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckRequest:
    """One question for ``contacts_check_many``: may ``debtor`` be contacted then and so?"""

    debtor: Debtor
    channel: str
    at: datetime
    account: Account | None = None
    purpose: str = "plan"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The answer to a contact check.

    ``reasons``: dicts with ``code``, ``message``, ``citation_text``, ``citation_url`` (empty
    when allowed). ``next_allowed_at``: aware UTC — ``at`` itself when allowed, the earliest
    later instant when this channel would be allowed (same history and flags), or None when
    nothing lifts the block (a flag, a forbidden channel, missing consent). ``decision_id``:
    the ``ComplianceDecision`` audit row (None when the batch was run without audit).
    """

    allowed: bool
    reasons: list[dict[str, str]]
    next_allowed_at: datetime | None
    decision_id: int | None
    channel: str
    local_time: datetime
    time_zone: str
    region: str


def contact_check(
    *,
    debtor: Debtor,
    channel: str,
    at: datetime,
    account: Account | None = None,
    purpose: str = "send",
) -> CheckResult:
    """May ``debtor`` be contacted on ``channel`` at ``at`` (aware)? Audited.

    Converts ``at`` to the debtor's IANA zone (``Debtor.timezone``, else the region's default),
    applies the region's effective rules (own + ancestors + default; cached), counts the ledger
    as far back as the rules need, adds ``disputed`` when ``account`` is disputed to the
    debtor's flags, and writes a ``ComplianceDecision`` row in the caller's transaction. Two
    queries when the rules are cached: the ledger read and the audit insert.
    """
    request = CheckRequest(debtor=debtor, channel=channel, at=at, account=account, purpose=purpose)
    return _checks_run([request], audit=True)[0]


def contacts_check_many(
    *, checks: Iterable[CheckRequest | Mapping[str, Any]], audit: bool = True
) -> list[CheckResult]:
    """``contact_check`` for many debtors and candidates at once, results in input order.

    ``checks`` holds ``CheckRequest`` values or mappings with the same keys. A constant number
    of queries, whatever the batch size (per 5,000 debtors): one ledger read, one read of old
    conversations if a region needs it, one bulk insert of audit rows. ``audit=False`` skips
    the audit rows (``decision_id`` is None): for the planner's candidate filtering only —
    the pick it keeps is checked again, audited, by messaging before the send.
    """
    requests = _requests_of(checks)
    return _checks_run(requests, audit=audit) if requests else []


def contacts_allowed_many(*, checks: Iterable[CheckRequest | Mapping[str, Any]]) -> list[bool]:
    """Whether each request may go ahead, in input order: the ``allowed`` of
    ``contacts_check_many(audit=False)`` without its reasons, next allowed times or results
    (the engine's ``allows``). The same arguments and queries. For the planner's candidate
    filtering: the pick it keeps is checked again, audited, before the send."""
    requests = _requests_of(checks)
    if not requests:
        return []
    _, ctx = _contexts_loaded(requests)
    out = []
    for req in requests:
        d = ctx[req.debtor.pk]
        local, flags, debt_id = _engine_inputs(req, d)
        out.append(
            engine.allows(d.rules, req.channel, local, d.history, flags, d.holidays, debt_id)
        )
    return out


class _Debtor:
    """Per-debtor context shared by all of its candidates in a batch."""

    __slots__ = (
        "days",
        "flags",
        "history",
        "holidays",
        "lower",
        "lower_ts",
        "region",
        "rules",
        "zone",
        "zone_name",
    )

    def __init__(self, debtor: Debtor, rs: RuleSet) -> None:
        self.region = debtor.region or ""
        zone_name, zone = debtor_zone(debtor, rs)
        self.zone: ZoneInfo = zone
        self.zone_name = zone_name
        self.rules = rs.rules(self.region)
        self.holidays = rs.holidays(self.region)
        self.flags = frozenset(debtor.flags or ()) & engine.FLAGS
        # Days of history the rules may count (None: all of it); "disputed" may come from an
        # account, so the periods of rules conditioned on it are included.
        self.days = rs.lookback_days(self.region, self.flags | {"disputed"})
        self.lower: datetime | None = None  # history needed from here on (UTC); None: all
        self.lower_ts = 0  # the same as Unix seconds, 0 for "no bound"
        self.history: list[engine.Contact] = []

    def history_add(self, account_id: int | None, channel: str, ts: int, outcome: str) -> None:
        """A ledger row (Unix seconds) as a contact on the debtor's wall clock."""
        local = datetime.fromtimestamp(ts, self.zone).replace(tzinfo=None)
        self.history.append(engine.Contact(channel, local, outcome, account_id))


def debtor_zone(debtor: Debtor, rs: RuleSet | None = None) -> tuple[str, ZoneInfo]:
    """(name, zone) the rules read the debtor's local time in: the debtor's own IANA zone,
    else the region's default from the rule packs, else UTC. Planners must use the same one,
    or the send times they pick are not the times compliance checks."""
    zone = zone_get(debtor.timezone)
    if zone is not None:
        return debtor.timezone, zone
    name = (rs or ruleset_current()).time_zone(debtor.region or "")
    return name, zone_get(name) or _UTC_ZONE


def _requests_of(checks: Iterable[CheckRequest | Mapping[str, Any]]) -> list[CheckRequest]:
    return [c if isinstance(c, CheckRequest) else CheckRequest(**c) for c in checks]


def _contexts_loaded(requests: Sequence[CheckRequest]) -> tuple[RuleSet, dict[int, _Debtor]]:
    """The current rules and one context per debtor, its ledger history loaded."""
    rs = ruleset_current()
    ctx, unbounded = _contexts_build(requests, rs)
    _history_load(rs, ctx, unbounded)
    return rs, ctx


def _checks_run(requests: Sequence[CheckRequest], *, audit: bool) -> list[CheckResult]:
    rs, ctx = _contexts_loaded(requests)
    # Each result's fields but its audit row id, which exists once the rows are inserted.
    answers = [_answer(req, ctx[req.debtor.pk]) for req in requests]
    if not audit:
        return [CheckResult(**a, decision_id=None) for a in answers]
    now = dj_tz.now()  # one time for the batch's rows, written together
    rows = [
        _decision_row(req, a, rules_version=rs.token, created_at=now)
        for req, a in zip(requests, answers, strict=True)
    ]
    if rows:
        _decisions_insert(rows)
    return [CheckResult(**a, decision_id=row.pk) for a, row in zip(answers, rows, strict=True)]


def _contexts_build(
    requests: Sequence[CheckRequest], rs: RuleSet
) -> tuple[dict[int, _Debtor], set[int]]:
    """Check each request's arguments and build one context per debtor, with how far back
    its history must be read: (contexts by debtor id, debtors whose whole history counts)."""
    ctx: dict[int, _Debtor] = {}
    unbounded: set[int] = set()
    for req in requests:
        _contact_args_check(
            debtor=req.debtor, channel=req.channel, at=req.at, account=req.account, outcome=None
        )
        d = ctx.get(req.debtor.pk)
        if d is None:
            d = ctx[req.debtor.pk] = _Debtor(req.debtor, rs)
        days = d.days
        if days is None:
            unbounded.add(req.debtor.pk)
        elif days:
            lower = req.at - timedelta(days=days) - _SLACK
            if d.lower is None or lower < d.lower:
                d.lower = lower
    for d in ctx.values():
        d.lower_ts = int(d.lower.timestamp()) if d.lower is not None else 0
    return ctx, unbounded


def _answer(req: CheckRequest, d: _Debtor) -> dict[str, Any]:
    """The engine's decision on one request, as the fields of its ``CheckResult``."""
    at, local, flags, debt_id = req.at, *_engine_inputs(req, d)
    decision = engine.evaluate(
        d.rules, req.channel, local, d.history, flags, d.holidays, debt_id=debt_id
    )
    if decision.allowed:
        reasons: list[dict[str, str]] = []
        nxt: datetime | None = at
    else:
        reasons = [r.as_dict() for r in decision.reasons]
        nxt = decision.next_allowed_at
        nxt = local_to_utc(nxt, d.zone, not_before=at) if nxt is not None else None
    return {
        "allowed": decision.allowed,
        "reasons": reasons,
        "next_allowed_at": nxt,
        "channel": req.channel,
        "local_time": local,
        "time_zone": d.zone_name,
        "region": d.region,
    }


def _engine_inputs(req: CheckRequest, d: _Debtor) -> tuple[datetime, frozenset[str], int | None]:
    """(the debtor's wall-clock time, flags with ``disputed`` when the account is, debt id)."""
    flags, account = d.flags, req.account
    if account is not None and account.status == AccountStatus.DISPUTED:
        flags = flags | {"disputed"}
    local = req.at.astimezone(d.zone).replace(tzinfo=None)
    return local, flags, account.pk if account is not None else None


def _decision_row(
    req: CheckRequest, answer: dict[str, Any], *, rules_version: str, created_at: datetime
) -> ComplianceDecision:
    """The audit row of one answered request (not saved yet)."""
    account = req.account
    return ComplianceDecision(
        debtor_id=req.debtor.pk,
        account_id=account.pk if account is not None else None,
        channel=req.channel,
        at=req.at,
        local_time=answer["local_time"].isoformat(timespec="minutes"),
        time_zone=answer["time_zone"],
        region=answer["region"],
        allowed=answer["allowed"],
        reasons=answer["reasons"],
        next_allowed_at=answer["next_allowed_at"],
        purpose=req.purpose[:16],
        rules_version=rules_version,
        created_at=created_at,
    )


def _decisions_insert(rows: list[ComplianceDecision]) -> None:
    """Insert audit rows and set their ids (COPY on PostgreSQL for large batches)."""
    bulk_insert(ComplianceDecision, rows, set_pks=True)


def _history_load(rs: RuleSet, ctx: dict[int, _Debtor], unbounded: set[int]) -> None:
    """Fill each debtor's history from the ledger: one query per kind of bound."""
    bounded = [pk for pk, d in ctx.items() if d.lower is not None and pk not in unbounded]
    raw: list = []
    if bounded:
        since = min(ctx[pk].lower for pk in bounded)  # type: ignore[type-var]
        raw += ledger_rows(debtor_ids=bounded, since=since)
    if unbounded:
        raw += ledger_rows(debtor_ids=unbounded, since=None)
    for debtor_id, account_id, channel, ts, outcome in raw:
        d = ctx[debtor_id]
        if ts < d.lower_ts:  # 0 when the debtor's whole ledger is read
            continue  # fetched for another debtor's longer lookback
        d.history_add(account_id, channel, ts, outcome)

    # A cap that starts after the first live conversation needs to know about conversations
    # older than the lookback: add the latest one per debt, dated before every counted period.
    need = [pk for pk in bounded if rs.needs_first_conversation(ctx[pk].region)]
    if need:
        before = max(ctx[pk].lower for pk in need)  # type: ignore[type-var]
        for debtor_id, account_id, channel, ts, outcome in last_conversations(
            debtor_ids=need, before=before
        ):
            d = ctx[debtor_id]
            if ts >= d.lower_ts:
                continue  # inside this debtor's window: already in its history
            d.history_add(account_id, channel, ts, outcome)


def local_to_utc(
    local: datetime, zone: ZoneInfo, *, not_before: datetime | None = None
) -> datetime:
    """A wall-clock time in ``zone`` as an aware UTC instant.

    A time that does not exist (in a spring-forward gap) becomes the first instant after the
    gap (02:30 on a 02:00->03:00 night is 03:00); an ambiguous time (in a fall-back fold) is
    the earlier of its two instants — unless that is before ``not_before`` (a check made
    during the repeated hour), then the later one, and never earlier than ``not_before``.
    """
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) != local:
        # In a gap. fold=1 maps before the transition and fold=0 after it; find the transition.
        lo = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
        hi = first
        while hi - lo > timedelta(seconds=1):
            mid = lo + (hi - lo) / 2
            if mid.astimezone(zone).replace(tzinfo=None) >= local:
                hi = mid
            else:
                lo = mid
        first = hi.replace(microsecond=0)
        if first.astimezone(zone).replace(tzinfo=None) < local:
            first += timedelta(seconds=1)
    if not_before is not None and first < not_before:
        later = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
        first = later if later >= not_before else not_before.astimezone(UTC)
    return first


# --- Disclosures ------------------------------------------------------------------------------


def disclosures_required(
    *,
    region: str,
    channel: str,
    language: str,
    initial: bool = False,
    on: date | None = None,
) -> list[engine.Disclosure]:
    """The texts a message on ``channel`` to a debtor in ``region`` must carry, in order.

    One text per topic, the nearest region's; ``initial`` selects the first-communication
    texts (e.g. the US mini-Miranda) instead of the later ones. A text missing in ``language``
    (ISO 639-1; ``fr-CA`` is read as ``fr``) comes in its first language — never dropped.
    ``on`` is the local date the rules are read for (default: today in the region's zone).
    Messaging appends them to every message and fills their ``{placeholders}``.
    """
    if channel not in _CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    rs = ruleset_current()
    if on is None:
        zone = zone_get(rs.time_zone(region)) or _UTC_ZONE
        on = dj_tz.now().astimezone(zone).date()
    lang = (language or "").split("-")[0].split("_")[0].lower()
    return engine.required_disclosures(rs.rules(region), channel, lang, on=on, initial=initial)


# --- Rule changes -----------------------------------------------------------------------------


def rule_change_record(
    *, changes: Iterable[Mapping[str, Any]], actor: str, user_id: int | None = None
) -> int:
    """Audit region/rule changes (``RuleChange`` rows) and bump the rules version.

    Call it in the transaction of the change (the admin does, from ``save_model``/
    ``save_formset``/``delete_model``). Each change: ``action``, ``kind``, ``code``,
    ``region_code``, ``before``, ``after`` (pack format, see ``compliance.rules``).
    """
    return changes_record(changes, actor=actor, user_id=user_id)
