from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Creditors (tenants), debtors, accounts, payments, plans and the debtor timeline."""

    name = "accounts"
    verbose_name = "Accounts"
