"""`{% portal_url 'portal:pay' account.pk %}`: `{% url %}` for the portal's own pages, with the
answers remembered per process (URL patterns never change while a process runs; the script
prefix, URLconf and language are part of the key). The overview page has a dozen links, and
reversing each of them again was about a tenth of the page's CPU."""

from __future__ import annotations

import functools

from django import template
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.translation import get_language

register = template.Library()


@functools.lru_cache(maxsize=4096)
def _reverse(prefix: str, urlconf: str | None, language: str | None, name: str, args: tuple) -> str:
    return reverse(name, urlconf=urlconf, args=args)


@register.simple_tag
def portal_url(name: str, *args: object) -> str:
    key = (get_script_prefix(), get_urlconf(), get_language())
    return _reverse(*key, name, tuple(str(a) for a in args))
