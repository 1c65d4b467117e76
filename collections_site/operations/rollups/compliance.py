"""The compliance rollups: `ComplianceDay` (contact checks by outcome) and
`ComplianceReasonDay` (the rules behind the checks that were not allowed), keyed by the UTC
day a check was made. A `ComplianceDecision` is written once and never changed, so the days
to rebuild are those of the decisions created since the watermark.

A decision has no creditor of its own: it is its debtor's creditor's.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime

from django.db.models import Case, CharField, Count, F, Value, When

from collections_site.operations.models import CheckOutcome, ComplianceDay, ComplianceReasonDay
from collections_site.operations.rollups.days import day_bounds, days_of
from compliance.models import RULE_MODELS, ComplianceDecision
from compliance.selectors import rules_token


def changed_days(since: datetime | None, until: datetime) -> set[date]:
    decisions = ComplianceDecision.objects.filter(created_at__lte=until)
    if since is not None:
        decisions = decisions.filter(created_at__gt=since)
    return days_of(decisions, "created_at")


def _made_on(day: date):
    start, end = day_bounds(day)
    return ComplianceDecision.objects.filter(created_at__gte=start, created_at__lt=end).order_by()


def _outcome() -> Case:
    return Case(
        When(allowed=True, then=Value(CheckOutcome.ALLOWED)),
        When(next_allowed_at__isnull=False, then=Value(CheckOutcome.RESCHEDULED)),
        default=Value(CheckOutcome.BLOCKED),
        output_field=CharField(),
    )


def day_rebuild(day: date) -> int:
    ComplianceDay.objects.filter(day=day).delete()
    ComplianceReasonDay.objects.filter(day=day).delete()
    return _outcomes_write(day) + _reasons_write(day)


def _outcomes_write(day: date) -> int:
    groups = (
        _made_on(day)
        .values("region", "channel", creditor_id=F("debtor__creditor_id"), outcome=_outcome())
        .annotate(decisions=Count("id"), debtors=Count("debtor_id", distinct=True))
    )
    rows = [
        ComplianceDay(
            day=day,
            creditor_id=g["creditor_id"],
            region=g["region"] or "",
            channel=g["channel"],
            outcome=g["outcome"],
            decisions=g["decisions"],
            debtors=g["debtors"],
        )
        for g in groups
    ]
    ComplianceDay.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


_kinds: dict[str, dict[str, str]] = {}


def rule_kinds() -> dict[str, str]:
    """Each rule code in the rule tables and its kind (cap, window, ...), read once per rules
    version (`compliance.selectors.rules_token`: a full rebuild reads them once, not daily)."""
    token = rules_token()
    if token not in _kinds:
        kinds: dict[str, str] = {}
        for kind, model in RULE_MODELS.items():
            kinds.update(dict.fromkeys(model.objects.values_list("code", flat=True), kind))
        _kinds.clear()
        _kinds[token] = kinds
    return _kinds[token]


def _reasons_write(day: date) -> int:
    """The day's refused checks read once (a few columns each), each reason code counted."""
    refused = (
        _made_on(day)
        .filter(allowed=False)
        .values_list(
            "debtor__creditor_id", "region", "channel", "next_allowed_at", "debtor_id", "reasons"
        )
    )
    counts: Counter = Counter()
    debtors: dict[tuple, set[int]] = defaultdict(set)
    citations: dict[str, str] = {}
    for creditor, region, channel, nxt, debtor, reasons in refused.iterator(chunk_size=5000):
        outcome = CheckOutcome.BLOCKED if nxt is None else CheckOutcome.RESCHEDULED
        codes = set()
        for reason in reasons if isinstance(reasons, list) else []:
            code = str(reason.get("code", ""))[:100] if isinstance(reason, dict) else ""
            if not code or code in codes:
                continue
            codes.add(code)
            citations.setdefault(code, str(reason.get("citation_text") or "")[:300])
            key = (creditor, region or "", channel, outcome, code)
            counts[key] += 1
            debtors[key].add(debtor)
    kinds = rule_kinds() if counts else {}
    ComplianceReasonDay.objects.bulk_create(
        (
            ComplianceReasonDay(
                day=day,
                creditor_id=k[0],
                region=k[1],
                channel=k[2],
                outcome=k[3],
                code=k[4],
                kind=kinds.get(k[4], ""),
                citation=citations[k[4]],
                decisions=n,
                debtors=len(debtors[k]),
            )
            for k, n in counts.items()
        ),
        batch_size=1000,
    )
    return len(counts)
