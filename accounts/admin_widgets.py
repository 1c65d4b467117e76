"""Choosers that show a posted id they cannot read as "nothing chosen".

Django's admin autocomplete (`AutocompleteMixin.optgroups`) and Wagtail's choosers
(`BaseChooser.get_instance`: snippets, pages, documents, images) look the posted id up in the
database when a form is shown again with its errors. A value that is not an id of that model
("abc" where a number belongs) raises `ValueError` or `ValidationError` from the lookup, so a
form that had already refused the value ("Select a valid choice") answered with a server
error instead. The browser never posts such a value; a hand-made request does.

`install()` (AccountsConfig.ready) wraps both: a value the lookup cannot read renders as
nothing chosen, beside the form's own error. Every other value renders exactly as before
(`tests/test_admin_widgets.py` pins both).
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.widgets import AutocompleteMixin
from django.core.exceptions import ValidationError
from wagtail.admin.widgets.chooser import BaseChooser

UNREADABLE = (ValueError, ValidationError, OverflowError)
"""What a lookup raises for posted text that is not an id of the model (ValidationError: a
UUID key; OverflowError: SQLite, an integer wider than 64 bits). Nothing else is caught, so a
fault of the code around the widget still shows."""


def install() -> None:
    if getattr(AutocompleteMixin.optgroups, "unreadable_ids_shown_as_none", False):
        return
    optgroups, get_instance = AutocompleteMixin.optgroups, BaseChooser.get_instance

    def optgroups_readable(self: Any, name: str, value: list[Any], attr: Any = None) -> list:
        try:
            return optgroups(self, name, value, attr)
        except UNREADABLE:
            return optgroups(self, name, [], attr)

    def get_instance_readable(self: Any, value: Any) -> Any:
        try:
            return get_instance(self, value)
        except UNREADABLE:
            return None

    optgroups_readable.unreadable_ids_shown_as_none = True  # type: ignore[attr-defined]
    AutocompleteMixin.optgroups = optgroups_readable  # type: ignore[method-assign]
    BaseChooser.get_instance = get_instance_readable  # type: ignore[method-assign]
