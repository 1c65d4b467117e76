"""`{% load i18n portal_i18n %}`: Django's `{% translate %}`, cheaper for a quoted string.

`{% translate "Balance" %}` renders exactly what Django's tag renders (the same `gettext`
call on the same message id, at render time, in the active language), without the lazy
string, template variable and localisation steps Django's node goes through for every form
of the tag: about half the cost of each of the ~20 of them on the overview page. Every other
form (a variable, filters, `noop`, `context`, `as`) is Django's own node. The tag keeps its
name, so `makemessages` extracts the strings as before. Each (language, message) is looked
up once per process and kept: the catalogues do not change while it runs, except when the
settings that Django reloads them for change (tests) or runserver loads a recompiled `.mo`
file, and both clear what was kept. 7.47 M -> 6.68 M instructions per overview page
(callgrind, `bench/portal_page_cpu.py --callgrind`).
"""

from __future__ import annotations

from pathlib import Path

from django import template
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.template.base import Node, Parser, Token
from django.templatetags.i18n import TranslateNode, do_translate
from django.utils.autoreload import file_changed
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, gettext

register = template.Library()


class LiteralTranslateNode(Node):
    """`{% translate "..." %}` with a quoted string and no options."""

    child_nodelists = ()

    def __init__(self, message: str) -> None:
        # As Django's node: percent signs are doubled in message ids taken from templates.
        self.msgid = message.replace("%", "%%")

    def render(self, context) -> SafeString:
        # The catalogues are loaded once per process, so a message's translation in a
        # language never changes: `gettext` walks up to 22 catalogues (one per app with
        # translations), 4-10 µs a message, ~28 times a page.
        key = (get_language(), self.msgid)
        found = _translated.get(key)
        if found is None:
            # A template's own text is trusted, so its translation is not escaped (as in
            # Django).
            found = _translated[key] = mark_safe(gettext(self.msgid).replace("%%", "%"))  # noqa: S308
        return found


_translated: dict[tuple[str | None, str], SafeString] = {}


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs) -> None:
    # The settings after which Django itself loads the catalogues again.
    if setting in {"LANGUAGES", "LANGUAGE_CODE", "LOCALE_PATHS"}:
        _translated.clear()


@receiver(file_changed)
def _catalogue_changed(*, file_path: Path, **kwargs) -> None:
    # runserver loads a recompiled catalogue without restarting (Django's own receiver).
    if file_path.suffix == ".mo":
        _translated.clear()


@register.tag("translate")
def translate(parser: Parser, token: Token) -> Node:
    node: TranslateNode = do_translate(parser, token)
    expression = node.filter_expression
    literal = expression.var.literal if expression.var.lookups is None else None
    if (
        isinstance(literal, str)
        and not expression.filters
        and not node.noop
        and node.asvar is None
        and node.message_context is None
    ):
        return LiteralTranslateNode(literal)
    return node
