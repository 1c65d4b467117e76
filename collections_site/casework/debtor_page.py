"""What the debtor's page shows, read in a fixed number of queries whatever the debtor's
history: one per table, each table capped at its latest rows.

Each table needs the viewer to hold the view permission of the rows it lists (a user who may
not look at messages sees no message table); links go to the pages the viewer may open. Times
are in the viewer's zone, with the debtor's own clock beside them where the debtor's day
matters (messages, call-backs, compliance checks, the timeline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Prefetch
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from wagtail.permissions import policy_registry

from accounts.models import Account, Activity, Debtor, Installment, Payment, PaymentPlan
from accounts.services import debtor_data_access_record
from collections_site.casework.base import Table
from collections_site.casework.display import amount, link, local, on_clock
from compliance.models import ComplianceDecision
from messaging.models import Message
from messaging.outbox_admin import outbox_url
from recommender import features
from recommender.models import Decision

LATEST = 100  # rows per table: the newest; the full lists are a click away


@dataclass
class Viewer:
    """Who is looking: what they may open decides which tables and links the page has."""

    user: Any

    def may_view(self, model) -> bool:
        return policy_registry.get_by_type(model).user_has_permission(self.user, "view")

    def may_view_django(self, app_label: str, model: str) -> bool:
        return self.user.has_perm(f"{app_label}.view_{model}")


def debtor_access(request, debtor: Debtor) -> None:
    """The page shows `debtor`'s personal data: the staff access log's row (docs/privacy.md),
    one insert, as on the Django admin's pages."""
    debtor_data_access_record(user=request.user, debtor=debtor, page=request.path)


def inspect_url(name: str, pk: int) -> str:
    return reverse(f"casework_{name}:inspect", args=[pk])


def _account_link(viewer: Viewer, account: Account | None) -> Any:
    if account is None:
        return ""
    url = inspect_url("accounts", account.pk) if viewer.may_view(Account) else ""
    return link(url, account.external_ref)


def _latest(queryset, limit: int = LATEST) -> tuple[list, str]:
    """The first `limit` rows, and a note when there were more."""
    rows = list(queryset[: limit + 1])
    if len(rows) > limit:
        return rows[:limit], _("The latest %(n)s are shown.") % {"n": limit}
    return rows, ""


# --- the tables ------------------------------------------------------------------------------


def accounts_table(viewer: Viewer, accounts: list[Account]) -> Table:
    return Table(
        _("Accounts"),
        "accounts",
        [_("Reference"), _("Status"), _("Balance"), _("Original"), _("Due"), _("Placed")],
        [
            [
                _account_link(viewer, a),
                a.get_status_display(),
                amount(a.current_balance, a.currency),
                amount(a.original_amount, a.currency),
                local(a.due_date),
                local(a.placed_at),
            ]
            for a in accounts
        ],
        empty=_("No accounts."),
    )


def payments_table(viewer: Viewer, debtor: Debtor) -> Table:
    payments, note = _latest(
        Payment.objects.filter(account__debtor=debtor)
        .select_related("account")
        .order_by("-received_at", "-id")
    )
    url = (lambda p: inspect_url("payments", p.pk)) if viewer.may_view(Payment) else (lambda p: "")
    return Table(
        _("Payments"),
        "payments",
        [_("Received"), _("Account"), _("Amount"), _("Method"), _("Status")],
        [
            [
                link(url(p), local(p.received_at)),
                _account_link(viewer, p.account),
                amount(p.amount, p.currency),
                p.get_method_display(),
                p.get_status_display(),
            ]
            for p in payments
        ],
        empty=_("No payments."),
        note=note,
    )


def plans_tables(viewer: Viewer, debtor: Debtor) -> list[Table]:
    plans = list(
        PaymentPlan.objects.filter(account__debtor=debtor)
        .select_related("account")
        .prefetch_related(Prefetch("installments", Installment.objects.order_by("sequence")))
        .order_by("-created_at", "-id")
    )
    may = viewer.may_view(PaymentPlan)
    plan_link = lambda p: link(inspect_url("plans", p.pk) if may else "", p.pk)  # noqa: E731
    summary = Table(
        _("Payment plans"),
        "plans",
        [
            _("Plan"),
            _("Account"),
            _("Frequency"),
            _("Instalments"),
            _("Total"),
            _("Status"),
            _("Agreed"),
        ],
        [
            [
                plan_link(p),
                _account_link(viewer, p.account),
                p.get_frequency_display(),
                p.instalment_count,
                amount(p.total_amount, p.account.currency),
                p.get_status_display(),
                local(p.created_at),
            ]
            for p in plans
        ],
        empty=_("No payment plans."),
    )
    instalments = Table(
        _("Instalments"),
        "instalments",
        [_("Plan"), _("#"), _("Due"), _("Amount"), _("Paid"), _("Status"), _("Paid at")],
        [
            [
                plan_link(p),
                i.sequence,
                local(i.due_date),
                amount(i.amount, p.account.currency),
                amount(i.amount_paid, p.account.currency),
                i.get_status_display(),
                local(i.paid_at),
            ]
            for p in plans
            for i in p.installments.all()
        ],
        empty=_("No instalments."),
    )
    return [summary, instalments]


def timeline_table(
    viewer: Viewer, debtor: Debtor, zone: ZoneInfo | None, *, account: Account | None = None
) -> Table:
    """The debtor's timeline (only `account`'s entries when given)."""
    activities = Activity.objects.filter(debtor=debtor)
    if account is not None:
        activities = activities.filter(account=account)
    activities, note = _latest(activities.select_related("account").order_by("-occurred_at", "-id"))
    return Table(
        _("Timeline"),
        "timeline",
        [_("When"), _("Debtor's clock"), _("What"), _("Account"), _("Summary"), _("By")],
        [
            [
                local(a.occurred_at),
                on_clock(a.occurred_at, zone),
                a.get_kind_display(),
                _account_link(viewer, a.account),
                a.summary,
                a.actor,
            ]
            for a in activities
        ],
        empty=_("Nothing has happened yet."),
        note=note,
    )


def messages_table(viewer: Viewer, debtor: Debtor, zone: ZoneInfo | None) -> Table:
    messages, note = _latest(
        Message.objects.filter(debtor=debtor)
        .select_related("variant", "account")
        .only(
            "id",
            "channel",
            "status",
            "status_reason",
            "sent_at",
            "due_at",
            "subject",
            "arm",
            "variant__name",
            "account__external_ref",
        )
        .order_by("-due_at", "-id")
    )
    return Table(
        _("Messages"),
        "messages",
        [
            _("Sent or due"),
            _("Debtor's clock"),
            _("Channel"),
            _("Status"),
            _("Variant"),
            _("Account"),
            _("Arm"),
        ],
        [
            [
                link(outbox_url(m.pk), local(m.sent_at or m.due_at)),
                on_clock(m.sent_at or m.due_at, zone),
                m.get_channel_display(),
                _status_with_reason(m.get_status_display(), m.status_reason),
                m.variant.name,
                _account_link(viewer, m.account),
                m.get_arm_display(),
            ]
            for m in messages
        ],
        empty=_("No messages."),
        note=note or _("Open a message to see it as the debtor received it."),
    )


def _status_with_reason(status: str, reason: str) -> Any:
    if not reason:
        return status
    return format_html('{}<br><span class="cw-muted">{}</span>', status, reason)


def decisions_table(viewer: Viewer, debtor: Debtor) -> Table:
    decisions, note = _latest(
        Decision.objects.filter(debtor=debtor)
        .select_related("model_version", "message")
        .only(
            "id",
            "decided_at",
            "arm",
            "stage",
            "action",
            "propensity",
            "candidates",
            "model_version__label",
            "message__id",
            "message__explanation",
        )
        .order_by("-decided_at", "-id")
    )
    may = viewer.may_view(Decision)
    return Table(
        _("Recommender decisions"),
        "decisions",
        [_("Decided"), _("Arm"), _("Kind of message"), _("Propensity"), _("Model"), _("Why")],
        [
            [
                link(inspect_url("decisions", d.pk) if may else "", local(d.decided_at)),
                d.get_arm_display(),
                archetype(d),
                f"{d.propensity:.3f}",
                d.model_version.label if d.model_version else _("(none)"),
                (d.message.explanation or {}).get("why", ""),
            ]
            for d in decisions
        ],
        empty=_("No decisions."),
        note=note,
    )


def archetype(decision: Decision) -> str:
    if decision.action < features.N_ACTIONS:
        return features.ACTIONS[decision.action].label
    return str(decision.action)


def compliance_table(debtor: Debtor) -> Table:
    checks, note = _latest(
        ComplianceDecision.objects.filter(debtor=debtor)
        .select_related("account")
        .order_by("-created_at", "-id")
    )
    return Table(
        _("Compliance decisions"),
        "compliance",
        [
            _("Checked"),
            _("Debtor's clock"),
            _("Channel"),
            _("Purpose"),
            _("Answer"),
            _("Reasons"),
            _("Next allowed"),
        ],
        [
            [
                local(c.created_at),
                f"{c.local_time.replace('T', ' ')} ({c.time_zone})",
                c.get_channel_display(),
                c.purpose,
                _("allowed") if c.allowed else _("blocked"),
                reasons(c.reasons),
                local(c.next_allowed_at),
            ]
            for c in checks
        ],
        empty=_("No compliance checks recorded."),
        note=note,
    )


def reasons(items: list[dict[str, str]]) -> Any:
    """Each reason: its rule code, its message and its citation (linked when it has a URL)."""
    if not items:
        return ""
    return format_html_join(
        "",
        '<div class="cw-reason"><code>{}</code> {} <span class="cw-muted">{}</span></div>',
        (
            (r.get("code", ""), r.get("message", ""), _citation(r))
            for r in items
            if isinstance(r, dict)
        ),
    )


def _citation(reason: dict[str, str]) -> Any:
    text, url = reason.get("citation_text", ""), reason.get("citation_url", "")
    if url.startswith(("https://", "http://")):
        return format_html('<a href="{}" rel="noreferrer">{}</a>', url, text or url)
    return text
