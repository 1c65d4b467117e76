"""The debtor's own actions in the portal, read-only, on the debtor's page: disputes, pauses,
call-back requests, fresh-link requests and checkouts (one query per table). The queues that
act on disputes and call-backs are elsewhere; here they are the debtor's history."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.utils.html import format_html
from django.utils.translation import gettext as _

from accounts.models import Debtor
from collections_site.casework.base import Table
from collections_site.casework.debtor_page import Viewer, _account_link, _latest
from collections_site.casework.display import amount, local, on_clock
from portal.models import CallbackRequest, Checkout, LinkRequest, PauseRequest, PortalDispute


def disputes_table(viewer: Viewer, debtor: Debtor) -> Table:
    disputes, note = _latest(
        PortalDispute.objects.filter(account__debtor=debtor)
        .select_related("account")
        .defer("details")
        .order_by("-created_at", "-id")
    )
    return Table(
        _("Disputes"),
        "disputes",
        [_("Raised"), _("Account"), _("Reason"), _("Document"), _("Status"), _("Resolved")],
        [
            [
                local(d.created_at),
                _account_link(viewer, d.account),
                d.get_reason_display(),
                _("yes") if d.document else _("no"),
                d.get_status_display(),
                local(d.resolved_at),
            ]
            for d in disputes
        ],
        empty=_("No disputes."),
        note=note,
    )


def pauses_table(viewer: Viewer, debtor: Debtor) -> Table:
    pauses, note = _latest(
        PauseRequest.objects.filter(account__debtor=debtor)
        .select_related("account")
        .order_by("-created_at", "-id")
    )
    return Table(
        _("Pauses (breathing space)"),
        "pauses",
        [_("Asked"), _("Account"), _("Reason"), _("Days"), _("Until")],
        [
            [
                local(p.created_at),
                _account_link(viewer, p.account),
                p.get_reason_display(),
                p.days,
                local(p.until),
            ]
            for p in pauses
        ],
        empty=_("No pauses."),
        note=note,
    )


def callbacks_table(viewer: Viewer, debtor: Debtor, zone: ZoneInfo | None) -> Table:
    callbacks, note = _latest(
        CallbackRequest.objects.filter(debtor=debtor)
        .select_related("account")
        .order_by("-window_start", "-id")
    )
    return Table(
        _("Call-back requests"),
        "callbacks",
        [
            _("Window (your time)"),
            _("Window (debtor's clock)"),
            _("Account"),
            _("Status"),
            _("Asked"),
            _("Done"),
        ],
        [
            [
                format_html("{} - {}", local(c.window_start), local(c.window_end, "H:i")),
                format_html("{} - {}", on_clock(c.window_start, zone), _hour(c.window_end, zone)),
                _account_link(viewer, c.account),
                c.get_status_display(),
                local(c.created_at),
                local(c.done_at),
            ]
            for c in callbacks
        ],
        empty=_("No call-back requests."),
        note=note,
    )


def _hour(value, zone: ZoneInfo | None) -> str:
    return value.astimezone(zone).strftime("%H:%M") if zone else ""


def link_requests_table(debtor: Debtor) -> Table:
    requests, note = _latest(LinkRequest.objects.filter(debtor=debtor).order_by("-created_at"))
    return Table(
        _("Fresh-link requests"),
        "link-requests",
        [_("Asked"), _("Status")],
        [[local(r.created_at), r.get_status_display()] for r in requests],
        empty=_("No requests for a fresh link."),
        note=note,
    )


def checkouts_table(viewer: Viewer, debtor: Debtor) -> Table:
    checkouts, note = _latest(
        Checkout.objects.filter(debtor=debtor)
        .select_related("account")
        .only(
            "id",
            "created_at",
            "purpose",
            "amount",
            "currency",
            "gateway",
            "status",
            "failure_code",
            "account__external_ref",
            "debtor_id",
        )
        .order_by("-created_at")
    )
    return Table(
        _("Checkouts (payments started in the portal)"),
        "checkouts",
        [_("Started"), _("Account"), _("Purpose"), _("Amount"), _("Gateway"), _("Status")],
        [
            [
                local(c.created_at),
                _account_link(viewer, c.account),
                c.get_purpose_display(),
                amount(c.amount, c.currency),
                c.gateway,
                f"{c.get_status_display()} {c.failure_code}".strip(),
            ]
            for c in checkouts
        ],
        empty=_("No checkouts."),
        note=note,
    )


def portal_tables(viewer: Viewer, debtor: Debtor, zone: ZoneInfo | None) -> list[Table]:
    """The portal tables this viewer may see (each needs its model's view permission in the
    Django admin, where the portal's rows are kept)."""
    tables = []
    if viewer.may_view_django("portal", "portaldispute"):
        tables.append(disputes_table(viewer, debtor))
    if viewer.may_view_django("portal", "pauserequest"):
        tables.append(pauses_table(viewer, debtor))
    if viewer.may_view_django("portal", "callbackrequest"):
        tables.append(callbacks_table(viewer, debtor, zone))
    if viewer.may_view_django("portal", "linkrequest"):
        tables.append(link_requests_table(debtor))
    if viewer.may_view_django("portal", "checkout"):
        tables.append(checkouts_table(viewer, debtor))
    return tables
