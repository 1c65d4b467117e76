from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Creditors (tenants), debtors, accounts, payments, plans and the debtor timeline."""

    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.db.models import ForeignObject, IntegerField

        from accounts.lookups import AnyOf

        IntegerField.register_lookup(AnyOf)
        ForeignObject.register_lookup(AnyOf)
