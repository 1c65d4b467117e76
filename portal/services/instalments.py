"""The scheduled check of missed instalments: marking them missed, and breaking plans past their
grace.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import (
    AccountStatus,
    Installment,
    InstallmentStatus,
    PaymentPlan,
    PlanStatus,
)
from accounts.services import (
    installments_miss,
    plan_break,
)
from portal.models import (
    PauseRequest,
)
from portal.services.common import (
    STAGE_MISSED_INSTALMENT,
)

logger = logging.getLogger(__name__)

# --- Missed instalments (scheduled) ---------------------------------------------------------


def installments_mark_missed(*, today: date | None = None) -> dict[str, int]:
    """Mark overdue instalments missed and break plans left unpaid too long. Idempotent.

    - An unpaid instalment `PORTAL_MISSED_AFTER_DAYS` (3) past its due date becomes `missed`
      (a pause that ended after the due date counts from its end instead); the account stays
      `in_plan` and the timeline gets a `plan_changed` entry with stage `missed_instalment`.
    - A plan with a missed instalment `PORTAL_PLAN_BREAK_AFTER_DAYS` (14) past due becomes
      `broken`, and the account goes back to `active` (stage `missed_instalment`): it is in
      the contact cycle again.
    Only accounts that are `in_plan` are touched (paused and disputed ones are left alone).
    """
    today = today or timezone.localdate()
    missed_after = timedelta(days=settings.PORTAL_MISSED_AFTER_DAYS)
    break_after = timedelta(days=settings.PORTAL_PLAN_BREAK_AFTER_DAYS)
    counts = {"missed": 0, "broken": 0}
    overdue = Installment.objects.filter(
        plan__status=PlanStatus.ACTIVE,
        plan__account__status=AccountStatus.IN_PLAN,
        status__in=[InstallmentStatus.PENDING, InstallmentStatus.PARTIAL],
        due_date__lt=today - missed_after,
    )
    for plan_id in sorted(set(overdue.values_list("plan_id", flat=True))):
        counts["missed"] += _plan_mark_missed(plan_id, today - missed_after)
    late = Installment.objects.filter(
        plan__status=PlanStatus.ACTIVE,
        plan__account__status=AccountStatus.IN_PLAN,
        status=InstallmentStatus.MISSED,
        due_date__lt=today - break_after,
    )
    for plan_id in sorted(set(late.values_list("plan_id", flat=True))):
        counts["broken"] += _plan_break(plan_id, today - break_after)
    return counts


def _pause_end(account_id: int) -> date | None:
    return (
        PauseRequest.objects.filter(account_id=account_id)
        .order_by("-created_at")
        .values_list("until", flat=True)
        .first()
    )


def _plan_mark_missed(plan_id: int, cutoff: date) -> int:
    account_id = PaymentPlan.objects.values_list("account_id", flat=True).get(pk=plan_id)
    return installments_miss(
        plan_id=plan_id,
        cutoff=cutoff,
        pause_end=_pause_end(account_id),
        actor="system",
        data={"stage": STAGE_MISSED_INSTALMENT},
    )


def _plan_break(plan_id: int, cutoff: date) -> int:
    return plan_break(
        plan_id=plan_id, cutoff=cutoff, actor="system", data={"stage": STAGE_MISSED_INSTALMENT}
    )
