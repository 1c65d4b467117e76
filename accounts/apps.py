from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Creditors (tenants), debtors, accounts, payments, plans and the debtor timeline."""

    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.db.models import ForeignObject, IntegerField

        from accounts import admin_widgets
        from accounts.lookups import AnyOf
        from accounts.staff.middleware import session_started

        IntegerField.register_lookup(AnyOf)
        ForeignObject.register_lookup(AnyOf)
        user_logged_in.connect(session_started, dispatch_uid="accounts.staff.session_started")
        admin_widgets.install()
