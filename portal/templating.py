"""The portal's pages are Jinja2 templates (`portal/jinja2/portal/`): the `portal` engine's
environment, its `url()` and `static()`, and `page()`, which renders a portal page.

Why not Django's template language: the overview page is the portal's busiest page, and
Django's templates cost markedly more CPU for it. Jinja2 compiles a template to Python code
once per process. Text is written `{{ _("Balance") }}` (or `{{ _("Hello %(name)s")|format(
name=debtor.first_name) }}` with placeholders) and translated when the template is compiled,
by `portal.compiled_translations` (the engine's backend, `PortalJinja2`).

Translators' workflow is unchanged: `makemessages` reads `_("...")` with a quoted string
in `{{ }}` and `{% %}` of any `.html` file, Jinja2 or not (checked by
`portal/tests/test_templates.py`), and the message ids are the ones the portal's Django
templates had. The translation is trusted text (not escaped, as in Django's
`{% translate %}`); values given to `|format` are escaped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jinja2
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import translation

from portal.compiled_translations import LiteralTranslations

ENGINE = "portal"  # the alias of the portal's engine in settings.TEMPLATES


@functools.lru_cache(maxsize=4096)
def _reverse(key: tuple[str, str | None, str | None], name: str, *args: object) -> str:
    return reverse(name, urlconf=key[1], args=args)


@functools.cache
def _url_function(key: tuple[str, str | None, str | None]) -> Callable[..., str]:
    return functools.partial(_reverse, key)


def urls(request: HttpRequest) -> dict[str, Callable[..., str]]:
    """Context processor: `{{ url("portal:pay", account.pk) }}` is `reverse()`, with the
    answers remembered per process (URL patterns never change while a process runs). The
    script prefix, URLconf and language it depends on are read once per page, not once per
    link: the overview has a dozen links, and reading them per link is a measurable share of
    the page's cost."""
    return {"url": _url_function((get_script_prefix(), get_urlconf(), translation.get_language()))}


@functools.lru_cache(maxsize=256)
def _static(path: str) -> str:
    """`{{ static("portal/portal.css") }}`: Django's `static()`, remembered per process (the
    storage reads its manifest of hashed names once per process anyway), because resolving
    it on every call is a measurable share of the overview's cost. Forgotten when the static
    files settings change."""
    return static(path)


def environment(**options: Any) -> jinja2.Environment:
    """The Jinja2 environment of `settings.TEMPLATES` (its `OPTIONS["environment"]`)."""
    options["extensions"] = [*options.get("extensions", ()), LiteralTranslations]
    env = jinja2.Environment(autoescape=options.pop("autoescape", True), **options)
    env.globals["static"] = _static
    return env


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in {"STATIC_URL", "STATIC_ROOT", "STORAGES"}:  # as Django's own receiver
        _static.cache_clear()
    elif setting == "ROOT_URLCONF":  # the default URLconf is not part of the links' key
        _reverse.cache_clear()


def page(
    request: HttpRequest, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    """Render a portal page with what every page shows (creditor, language switcher, the idle
    timeout). A page whose form failed (or that says `page_error`) gets a title starting
    with "Error:", so a screen reader says so first."""
    portal = getattr(request, "portal", None)
    debtor = portal.debtor if portal is not None else None
    ctx: dict[str, Any] = {
        "debtor": debtor,
        "creditor": debtor.creditor if debtor else None,
        "verified": bool(portal and portal.verified),
        "idle": portal.idle if portal is not None else None,
        "LANGUAGE_CODE": request.LANGUAGE_CODE,
        # Each language in its own name (settings.LANGUAGES), as the option's lang= says.
        "LANGUAGES": settings.LANGUAGES,
    }
    ctx.update(context or {})
    ctx["page_error"] = ctx.get("page_error") or any(
        isinstance(v, BaseForm) and v.errors for v in ctx.values()
    )
    return render(request, template, ctx, status=status, using=ENGINE)
