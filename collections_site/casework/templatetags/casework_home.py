"""`{% debtor_search_form as search %}`: the admin home page's search box (`home.py`)."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _
from wagtail.admin.forms.search import SearchForm

from collections_site.casework.home import debtor_search_url

register = template.Library()


@register.simple_tag(takes_context=True)
def debtor_search_form(context) -> dict | None:
    """The debtors' search (action and form), or None for a user who may not see debtors."""
    action = debtor_search_url(context["request"].user)
    if not action:
        return None
    placeholder = _("Search debtors: reference, name, e-mail or phone")
    return {"action": action, "form": SearchForm(placeholder=placeholder)}
