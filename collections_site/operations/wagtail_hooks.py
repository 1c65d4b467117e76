"""The operations cockpit in the Wagtail admin: its URLs under `/admin/operations/` (Wagtail
wraps them in its admin-access check) and a top-level "Operations" menu item.

The Health page is `/admin/operations/` (URL name `operations:health`); outside checks use
that address. The other sections are `/admin/operations/<section>/` (`operations:<section>`,
`cockpit/`).
"""

from __future__ import annotations

from django.urls import include, path, reverse
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.menu import MenuItem

from collections_site.operations import views
from collections_site.operations.cockpit import compliance, engagement, recommender, recovery
from collections_site.operations.panels import CockpitPanel

app_name = "operations"
urlpatterns = [
    path("", views.health, name="health"),
    path("recovery/", recovery.recovery, name="recovery"),
    path("engagement/", engagement.engagement, name="engagement"),
    path("recommender/", recommender.recommender, name="recommender"),
    path("compliance/", compliance.compliance, name="compliance"),
]


@hooks.register("register_admin_urls")
def register_operations_urls():
    return [path("operations/", include((urlpatterns, app_name), namespace=app_name))]


@hooks.register("register_admin_menu_item")
def register_operations_menu_item():
    return MenuItem(
        _("Operations"),
        reverse("operations:health"),
        name="operations",
        icon_name="tasks",
        order=150,
    )


@hooks.register("construct_homepage_panels")
def add_cockpit_panel(request, panels):
    """The cockpit's headline first on the admin's home page, for staff who may see it."""
    if request.user.is_staff:
        panels.append(CockpitPanel(request))
