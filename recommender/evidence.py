"""Reads of the recommender: the behavioural evidence of a batch of debtors, which
`recommender.typology` scores (`typology_inputs`; called by `recommender.services.typology`).
One aggregate query per kind of evidence, whatever the batch's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db.models import Count, Q, Sum
from django.db.models import F as DbF

from accounts.models import (
    OPEN_INSTALLMENT_STATUSES,
    Account,
    Activity,
    ActivityKind,
    Debtor,
    Installment,
    InstallmentStatus,
    Payment,
    PaymentPlan,
    PaymentStatus,
    PlanStatus,
)
from messaging.models import EventKind, Message, MessageEvent
from recommender import features as F
from recommender.typology import HARD_TONES, SOFT_TONES, TypologyInputs


def typology_inputs(*, debtor_ids: Sequence[int], now: datetime) -> dict[int, TypologyInputs]:
    """Evidence for a batch of debtors (`recommender.typology` scores it), in a constant
    number of aggregate queries: one per kind of evidence below, the integer ids sent as
    one array (`__any`)."""
    ids = list(debtor_ids)
    out = {d: TypologyInputs() for d in ids}
    if not ids:
        return out
    for collect in (
        _evidence_debtor,
        _evidence_messages,
        _evidence_replies,
        _evidence_balances,
        _evidence_payments,
        _evidence_plans,
        _evidence_instalments,
        _evidence_activities,
    ):
        collect(out, ids=ids, now=now)
    return out


def _evidence_debtor(out: dict[int, TypologyInputs], *, ids: list[int], now: datetime) -> None:
    for d, flags, pref, start in Debtor.objects.filter(pk__any=ids).values_list(
        "id", "flags", "preferred_channel", "preferred_hours_start"
    ):
        out[d].flags = list(flags or [])
        out[d].preferences_set = bool(pref or start)


def _evidence_messages(out: dict[int, TypologyInputs], *, ids: list[int], now: datetime) -> None:
    """Sends, opens and clicks, and those of soft and of hard tones."""
    for row in (
        Message.objects.filter(debtor_id__any=ids, sent_at__isnull=False, sent_at__lte=now)
        .values("debtor_id", "variant__tone__slug")
        .annotate(
            n=Count("id"),
            opens=Count("id", filter=Q(opened_at__isnull=False)),
            clicks=Count("id", filter=Q(clicked_at__isnull=False)),
        )
        .order_by()
    ):
        t = out[row["debtor_id"]]
        t.sends += row["n"]
        t.opens += row["opens"]
        t.clicks += row["clicks"]
        family = F.tone_family(row["variant__tone__slug"] or "")
        if family in SOFT_TONES:
            t.soft_sends += row["n"]
            t.soft_clicks += row["clicks"]
        elif family in HARD_TONES:
            t.hard_sends += row["n"]
            t.hard_clicks += row["clicks"]


def _evidence_replies(out: dict[int, TypologyInputs], *, ids: list[int], now: datetime) -> None:
    for row in (
        MessageEvent.objects.filter(
            message__debtor_id__any=ids,
            kind__in=[EventKind.REPLIED, EventKind.COMPLAINED],
            occurred_at__lte=now,
        )
        .values("message__debtor_id", "kind")
        .annotate(n=Count("id"))
        .order_by()
    ):
        t = out[row["message__debtor_id"]]
        if row["kind"] == EventKind.REPLIED:
            t.replies += row["n"]
        else:
            t.complaints += row["n"]


def _evidence_balances(out: dict[int, TypologyInputs], *, ids: list[int], now: datetime) -> None:
    for row in (
        Account.objects.filter(debtor_id__any=ids)
        .values("debtor_id")
        .annotate(orig=Sum("original_amount"), bal=Sum("current_balance"))
        .order_by()
    ):
        t = out[row["debtor_id"]]
        t.original_total, t.balance_total = float(row["orig"] or 0), float(row["bal"] or 0)


def _evidence_payments(out: dict[int, TypologyInputs], *, ids: list[int], now: datetime) -> None:
    for row in (
        Payment.objects.filter(
            account__debtor_id__any=ids, status=PaymentStatus.SUCCEEDED, received_at__lte=now
        )
        .values("account__debtor_id")
        .annotate(
            n=Count("id"),
            total=Sum("amount"),
            late=Count("id", filter=Q(received_at__date__gt=DbF("account__due_date"))),
        )
        .order_by()
    ):
        t = out[row["account__debtor_id"]]
        t.payments, t.amount_paid, t.paid_after_due = row["n"], float(row["total"]), row["late"]


def _evidence_plans(out: dict[int, TypologyInputs], *, ids: list[int], now: datetime) -> None:
    for row in (
        PaymentPlan.objects.filter(account__debtor_id__any=ids)
        .values("account__debtor_id")
        .annotate(n=Count("id"), broken=Count("id", filter=Q(status=PlanStatus.BROKEN)))
        .order_by()
    ):
        t = out[row["account__debtor_id"]]
        t.plans, t.plans_broken = row["n"], row["broken"]


def _evidence_instalments(out: dict[int, TypologyInputs], *, ids: list[int], now: datetime) -> None:
    """Instalments due before today: paid on time, missed, partial."""
    for row in (
        Installment.objects.filter(plan__account__debtor_id__any=ids, due_date__lt=now.date())
        .exclude(status=InstallmentStatus.CANCELLED)
        .values("plan__account__debtor_id")
        .annotate(
            due=Count("id"),
            on_time=Count(
                "id",
                filter=Q(status=InstallmentStatus.PAID, paid_at__date__lte=DbF("due_date")),
            ),
            missed=Count("id", filter=Q(status__in=OPEN_INSTALLMENT_STATUSES)),
            partial=Count("id", filter=Q(status=InstallmentStatus.PARTIAL)),
        )
        .order_by()
    ):
        t = out[row["plan__account__debtor_id"]]
        t.instalments_due, t.instalments_on_time = row["due"], row["on_time"]
        t.instalments_missed, t.instalments_partial = row["missed"], row["partial"]


_ACTIVITY_EVIDENCE = {
    ActivityKind.DISPUTE: "disputes",
    ActivityKind.PAUSE: "pauses",
    ActivityKind.CALLBACK_REQUESTED: "callbacks",
    ActivityKind.OPTED_OUT: "opt_outs",
}
"""Timeline entries counted as evidence, and the `TypologyInputs` field each one counts in."""


def _evidence_activities(out: dict[int, TypologyInputs], *, ids: list[int], now: datetime) -> None:
    for row in (
        Activity.objects.filter(
            debtor_id__any=ids, kind__in=list(_ACTIVITY_EVIDENCE), occurred_at__lte=now
        )
        .values("debtor_id", "kind")
        .annotate(n=Count("id"))
        .order_by()
    ):
        setattr(out[row["debtor_id"]], _ACTIVITY_EVIDENCE[row["kind"]], row["n"])
