"""The Wagtail admin's account menu links to the staff member's two-factor settings."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from wagtail import hooks


@hooks.register("register_account_menu_item")
def two_factor_settings(request):
    return {
        "url": reverse("staff_2fa"),
        "label": _("Two-factor authentication"),
        "help_text": _("Set up or replace your authenticator app; make new recovery codes."),
    }
