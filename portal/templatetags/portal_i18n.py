"""`{% load i18n portal_i18n %}`: Django's `{% translate %}`, cheaper for a quoted string.

`{% translate "Balance" %}` renders exactly what Django's tag renders (the same `gettext`
call on the same message id, at render time, in the active language), without the lazy
string, template variable and localisation steps Django's node goes through for every form
of the tag: about half the cost of each of the ~20 of them on the overview page. Every other
form (a variable, filters, `noop`, `context`, `as`) is Django's own node. The tag keeps its
name, so `makemessages` extracts the strings as before.
"""

from __future__ import annotations

from django import template
from django.template.base import Node, Parser, Token
from django.templatetags.i18n import TranslateNode, do_translate
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

register = template.Library()


class LiteralTranslateNode(Node):
    """`{% translate "..." %}` with a quoted string and no options."""

    child_nodelists = ()

    def __init__(self, message: str) -> None:
        # As Django's node: percent signs are doubled in message ids taken from templates.
        self.msgid = message.replace("%", "%%")

    def render(self, context) -> SafeString:
        # A template's own text is trusted, so its translation is not escaped (as in Django).
        return mark_safe(gettext(self.msgid).replace("%%", "%"))  # noqa: S308


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
