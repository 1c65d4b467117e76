"""How the Django admin shows values to an operator: money and model help texts.

Money is stored with 4 decimal places (`accounts.models.MONEY`), so Django's own display of a
DecimalField reads `706.0500` for 706.05 USD and `12000.0000` for 12,000 JPY. An admin class
that mixes in `MoneyAdmin` names its amounts in `money_fields` (field -> the attribute path of
its currency code); wherever such a field appears (`list_display`, `fields`, `fieldsets`,
`readonly_fields`, inlines' columns) it is replaced by a read-only column formatted by
`accounts.money.format_money` in the operator's language: `$706.05`, `¥12,000`,
`KWD 1,234.500`. Columns keep their header (the field's verbose name), help text and sorting.
Amounts are never form inputs in such an admin: they change through `accounts.services`.
An editable amount (a creditor's minimum instalment) is shown by `amount_for_input`.

Django renders model help texts as HTML, so a help text like `admin:<user id>` loses its
`<user id>`; `PlainHelpTexts` gives the admin's forms the model help texts escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import cache
from operator import attrgetter
from typing import Any

from babel.core import UnknownLocaleError
from django.conf import settings
from django.contrib import admin
from django.db import models
from django.utils.html import escape
from django.utils.translation import get_language

from accounts import money


def money_text(amount: Decimal, currency: str) -> str:
    """`amount` in `currency`'s minor units, written the way the operator's language does."""
    try:
        return money.format_money(amount, currency, get_language() or settings.LANGUAGE_CODE)
    except (UnknownLocaleError, ValueError):  # MoneyError is a ValueError
        pass
    try:
        return money.format_money(amount, currency, "en")
    except money.MoneyError:  # not a currency we know: show what is stored
        return f"{amount} {currency}"


def amount_for_input(amount: Decimal | None, currency: str) -> Decimal | None:
    """An amount as a form input shows it: in the currency's minor units (`10.00`, JPY `10`),
    unless that would hide digits the stored amount has beyond them."""
    if amount is None or not money.currency_is_known(currency):
        return amount
    shown = money.quantize(amount, currency)
    return shown if shown == amount else amount.normalize()


@cache
def money_display(model: type[models.Model], name: str, currency: str) -> Callable[[Any], str]:
    """A `list_display` / `readonly_fields` callable showing `model.name` with `money_text`.

    `currency` is the attribute path of the currency code from the object, e.g. `currency` or
    `account.currency`. The callable is named after the field, so the admin finds the field's
    help text and CSS class (`field-<name>`); its header is the field's verbose name and the
    column sorts by the field.
    """
    field = model._meta.get_field(name)
    currency_of = attrgetter(currency)

    def display(obj: Any) -> str:
        amount = getattr(obj, name)
        if amount is None:
            return admin.site.empty_value_display
        return money_text(amount, currency_of(obj))

    display.__name__ = display.__qualname__ = name
    return admin.display(description=field.verbose_name, ordering=name)(display)


class MoneyAdmin:
    """Mixin for a `ModelAdmin` or an inline: `money_fields` are shown by `money_display`.

    List it before Django's admin class: `class PaymentAdmin(MoneyAdmin, admin.ModelAdmin)`.
    The class attributes keep naming the model fields (so Django's checks read them); the
    names are swapped for the display callables per request. Because every occurrence is
    swapped, including in the fields Django derives from the model form, a money field is
    never an input in such an admin.
    """

    money_fields: dict[str, str] = {}

    def _money_swap(self, names: Iterable[Any]) -> list[Any]:
        displays = {
            name: money_display(self.model, name, currency)  # type: ignore[attr-defined]
            for name, currency in self.money_fields.items()
        }

        def swap(item: Any) -> Any:
            if isinstance(item, list | tuple):
                return type(item)(swap(i) for i in item)
            return displays.get(item, item) if isinstance(item, str) else item

        swapped: list[Any] = []
        for item in names:
            item = swap(item)
            if item not in swapped:
                swapped.append(item)
        return swapped

    def get_list_display(self, request):
        return self._money_swap(super().get_list_display(request))  # type: ignore[misc]

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)  # type: ignore[misc]
        return self._money_swap([*readonly, *self.money_fields])

    def get_fields(self, request, obj=None):
        return self._money_swap(super().get_fields(request, obj))  # type: ignore[misc]

    def get_fieldsets(self, request, obj=None):
        return [
            (name, {**options, "fields": self._money_swap(options.get("fields", ()))})
            for name, options in super().get_fieldsets(request, obj)  # type: ignore[misc]
        ]


def plain_help_texts(model: type[models.Model]) -> dict[str, str]:
    """The model's help texts, escaped for Django's admin (which renders them as HTML)."""
    return {
        f.name: escape(f.help_text)
        for f in model._meta.get_fields()
        if getattr(f, "help_text", "") and not f.auto_created
    }


class PlainHelpTexts:
    """Mixin for a `ModelAdmin` or an inline: model help texts are shown as written."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs.setdefault("help_texts", plain_help_texts(self.model))  # type: ignore[attr-defined]
        return super().get_form(request, obj, change, **kwargs)  # type: ignore[misc]

    def get_formset(self, request, obj=None, **kwargs):
        kwargs.setdefault("help_texts", plain_help_texts(self.model))  # type: ignore[attr-defined]
        return super().get_formset(request, obj, **kwargs)  # type: ignore[misc]
