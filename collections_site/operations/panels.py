"""The cockpit's headline on the Wagtail home page: is the system healthy, what went out and
converted in the last seven days, and whether the policy beats the random control, each
linking to the cockpit page that explains it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone
from wagtail.admin.ui.components import Component

from accounts.tenancy import is_agency_staff, scope_queryset
from collections_site.demo_history.progress import demo_progress
from collections_site.operations import selectors, verdict
from collections_site.operations.cockpit import charts
from collections_site.operations.cockpit.recommender import guard_text
from collections_site.operations.models import EngagementDay
from messaging.models import Arm
from recommender.evaluation import relative_uplift, wilson
from recommender.selectors import uplift_guard

WEEK = 7
UPLIFT_DAYS = 30


class CockpitPanel(Component):
    name = "operations_cockpit"
    order = 40  # above Wagtail's own panels
    template_name = "operations/home_panel.html"

    def __init__(self, request) -> None:
        self.request = request

    def get_context_data(self, parent_context: Any = None) -> dict[str, Any]:
        user = self.request.user
        now = timezone.now()
        outbox = selectors.outbox_health(scope=selectors.OutboxScope(user=user), now=now)
        demo = demo_progress()
        held = bool(demo and demo.building)
        reasons = verdict.outbox_reasons(outbox, held=held)
        if is_agency_staff(user):
            reasons |= verdict.queue_reasons(selectors.queue_health(now=now), now=now, held=held)
        rollup = scope_queryset(EngagementDay.objects.all(), user, "creditor")
        today = now.date()
        week = rollup.filter(day__gt=today - timedelta(days=WEEK)).aggregate(
            sent=Sum("sent"), converted=Sum("converted")
        )
        sent, converted = week["sent"] or 0, week["converted"] or 0
        rate = wilson(converted, sent)
        return {
            "reasons": list(reasons.values()),
            "health_url": reverse("operations:health"),
            "engagement_url": reverse("operations:engagement"),
            "recommender_url": reverse("operations:recommender"),
            "sent": f"{sent:,}",
            "converted": f"{converted:,}",
            "rate": (
                f"{charts.percent(rate.rate)} [{charts.percent(rate.lower)}, "
                f"{charts.percent(rate.upper)}]"
                if rate.rate is not None
                else ""
            ),
            "uplift": _uplift(rollup, today),
            "days": UPLIFT_DAYS,
        }


def _uplift(rollup, today) -> dict[str, str]:
    arms = dict.fromkeys((Arm.POLICY, Arm.CONTROL), (0, 0))
    rows = (
        rollup.filter(day__gt=today - timedelta(days=UPLIFT_DAYS), arm__in=list(arms))
        .values("arm")
        .annotate(sent=Sum("sent"), converted=Sum("converted"))
    )
    for r in rows:
        arms[r["arm"]] = (r["sent"], r["converted"])
    policy = wilson(arms[Arm.POLICY][1], arms[Arm.POLICY][0])
    control = wilson(arms[Arm.CONTROL][1], arms[Arm.CONTROL][0])
    guard = uplift_guard("conversion", policy=policy, control=control)
    u = relative_uplift(policy, control)
    if guard["enough"] and u.value is not None:
        return {"value": f"{u.value:+.0%}", "interval": f"[{u.lower:+.0%}, {u.upper:+.0%}]"}
    return {"message": guard_text(guard, control)}
