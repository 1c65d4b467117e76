"""The "Configuration" menu of the Wagtail admin: links to the Django admin pages where the
platform is configured (regions and their rules, creditors, API keys, webhooks, staff users
and groups, scheduled tasks, recommender models). Configuration stays in the Django admin; the
menu only points there, and shows a link only to a user who may open its page."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _
from wagtail.admin.menu import Menu, MenuItem, SubmenuMenuItem

from accounts.tenancy import is_agency_staff

# (label, app label, model name, icon) in menu order.
PAGES = [
    (_("Regions and rules"), "compliance", "region", "globe"),
    (_("Rule changes"), "compliance", "rulechange", "history"),
    (_("Creditors"), "accounts", "creditor", "group"),
    (_("API keys"), "api_keys", "apikey", "key"),
    (_("Webhook endpoints"), "webhooks", "webhookendpoint", "link"),
    (_("Webhook deliveries"), "webhooks", "webhookdelivery", "mail"),
    (_("Staff users"), "auth", "user", "user"),
    (_("Staff groups"), "auth", "group", "group"),
    (_("Scheduled tasks"), "django_q", "schedule", "time"),
    (_("Recommender models"), "recommender", "modelversion", "pick"),
    (_("Staff access log"), "accounts", "debtordataaccess", "view"),
]
# Pages the Django admin opens to agency staff only, whatever the model permissions.
AGENCY_ONLY = {("accounts", "debtordataaccess")}


class DjangoAdminMenuItem(MenuItem):
    """A link to a Django admin list, shown to staff holding its view or change permission
    (the Django admin itself decides the rest: tenancy, agency-only pages)."""

    def __init__(self, label, app_label: str, model: str, icon: str, order: int):
        self.app_label, self.model = app_label, model
        try:
            url = reverse(f"admin:{app_label}_{model}_changelist")
        except NoReverseMatch:
            url = ""
        name = f"config-{app_label}-{model}"
        super().__init__(label, url, name=name, icon_name=icon, order=order)

    def is_shown(self, request) -> bool:
        user = request.user
        if not (self.url and user.is_active and user.is_staff):
            return False
        if (self.app_label, self.model) in AGENCY_ONLY and not is_agency_staff(user):
            return False
        return user.has_perm(f"{self.app_label}.view_{self.model}") or user.has_perm(
            f"{self.app_label}.change_{self.model}"
        )


def configuration_menu_item() -> SubmenuMenuItem:
    items = [
        DjangoAdminMenuItem(label, app, model, icon, order)
        for order, (label, app, model, icon) in enumerate(PAGES, start=1)
    ]
    return SubmenuMenuItem(
        _("Configuration"), Menu(items=items), name="configuration", icon_name="cogs", order=900
    )
