"""The work queues in the Wagtail admin: a "Work queues" menu group with the disputes,
call-backs and failed hand-offs queues (`/admin/queues/<queue>/`), their bulk actions, and
their panel on the home page (docs/queues.md).

Stable URL names: `queues_disputes:index|inspect`, `queues_callbacks:index|inspect`,
`queues_handoffs:index|inspect` (argument: the item's id).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.viewsets.model import ModelViewSetGroup
from wagtail.permissions import register_permission_policy

from collections_site.queues import callbacks, disputes, handoffs
from collections_site.queues.common import QueuePermissionPolicy
from collections_site.queues.panels import QueuesPanel
from portal.models import CallbackRequest, PortalDispute

# Before anything asks Wagtail for these models' policies (it would fall back to the default).
register_permission_policy(PortalDispute, QueuePermissionPolicy(PortalDispute))
register_permission_policy(CallbackRequest, QueuePermissionPolicy(CallbackRequest))


class WorkQueues(ModelViewSetGroup):
    menu_label = _("Work queues")
    menu_icon = "tasks"
    menu_order = 140
    items = (disputes.DisputeViewSet(), callbacks.CallbackViewSet(), handoffs.HandoffViewSet())


@hooks.register("register_admin_viewset")
def register_work_queues():
    return WorkQueues()


for _action in (*disputes.BULK_ACTIONS, *callbacks.BULK_ACTIONS, *handoffs.BULK_ACTIONS):
    hooks.register("register_bulk_action", _action)


@hooks.register("register_permissions")
def register_handoff_review_permission():
    return handoffs.HandoffViewSet().get_permissions_to_register()


@hooks.register("construct_homepage_panels")
def add_work_queues_panel(request, panels):
    panels.append(QueuesPanel(request))
