"""Labels defined in `accounts` that portal pages show, marked here so the portal's own
catalogues (portal/locale) carry their French and German translations."""

from django.utils.translation import gettext_noop

ACCOUNT_LABELS = [
    # AccountStatus
    gettext_noop("Active"),
    gettext_noop("In a payment plan"),
    gettext_noop("Paused"),
    gettext_noop("Disputed"),
    gettext_noop("Paid in full"),
    gettext_noop("Settled"),
    gettext_noop("Recalled by the creditor"),
    gettext_noop("Closed"),
    # PlanFrequency
    gettext_noop("Weekly"),
    gettext_noop("Every two weeks"),
    gettext_noop("Monthly"),
    # PlanStatus
    gettext_noop("Completed"),
    gettext_noop("Broken"),
    gettext_noop("Cancelled"),
    # InstallmentStatus
    gettext_noop("Pending"),
    gettext_noop("Partly paid"),
    gettext_noop("Paid"),
    gettext_noop("Missed"),
    # Channels
    gettext_noop("Email"),
    gettext_noop("SMS"),
    gettext_noop("WhatsApp"),
    gettext_noop("Phone call"),
    gettext_noop("Letter"),
]
