"""The portal's pages are Jinja2 templates (`portal/jinja2/portal/`), translated when compiled.

Why not Django's template language: the overview page is the portal's busiest page, and
rendering it with Django's templates was about two thirds of its CPU (docs/benchmarks.md,
Portal). Jinja2 compiles a template to Python code once per process.

Why translated when compiled: a template's own text is written `{{ _("Balance") }}` (or
`{{ _("Hello %(name)s")|format(name=debtor.first_name) }}` with placeholders), and each
`_("...")` is replaced by its translation when the template is compiled, so a page costs no
`gettext` calls at all. That needs one compiled copy of each template per language:
`PortalJinja2` keeps one Jinja2 environment per language and picks the active language's.
The copies are dropped whenever Django loads its catalogues again (the `LANGUAGES`,
`LANGUAGE_CODE` or `LOCALE_PATHS` settings change in tests, or runserver sees a recompiled
`.mo` file).

Translators' workflow is unchanged: `makemessages` reads `_("...")` with a quoted string
in `{{ }}` and `{% %}` of any `.html` file, Jinja2 or not (checked by
`portal/tests/test_templates.py`), and the message ids are the ones the portal's Django
templates had. `_` takes exactly one quoted string; anything else is a syntax error when the
template compiles. The translation is trusted text (not escaped, as in Django's
`{% translate %}`); values given to `|format` are escaped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jinja2
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import engines
from django.template.backends.jinja2 import Jinja2
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import translation
from django.utils.autoreload import file_changed
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream

ENGINE = "portal"  # the alias of the portal's engine in settings.TEMPLATES


class LiteralTranslations(Extension):
    """`_("...")` becomes `("<translation>"|safe)` in the environment's `portal_language`."""

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        language = getattr(self.environment, "portal_language", None)
        tokens = iter(stream)
        for token in tokens:
            if not token.test("name:_"):
                yield token
                continue
            found = [next(tokens, token) for _ in range(3)]
            if [t.type for t in found] != ["lparen", "string", "rparen"]:
                raise jinja2.TemplateSyntaxError(
                    '_() takes exactly one quoted string: _("...")',
                    token.lineno,
                    stream.name,
                    stream.filename,
                )
            with translation.override(language):
                text = translation.gettext(found[1].value)
            line = token.lineno
            yield Token(line, "lparen", "(")
            yield Token(line, "string", text)
            yield Token(line, "pipe", "|")
            yield Token(line, "name", "safe")
            yield Token(line, "rparen", ")")


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


class PortalJinja2(Jinja2):
    """Django's Jinja2 backend with one environment per language (see the module's text).

    `self.env` is the active language's environment, so every method of Django's backend
    (`get_template`, `from_string`) compiles and caches templates per language."""

    @property
    def env(self) -> jinja2.Environment:
        language = translation.get_language()
        found = self._by_language.get(language)
        if found is None:
            found = self._base.overlay()
            found.portal_language = language  # read by LiteralTranslations
            found = self._by_language.setdefault(language, found)
        return found

    @env.setter
    def env(self, value: jinja2.Environment) -> None:
        self._base = value
        self._by_language: dict[str | None, jinja2.Environment] = {}

    def forget_translations(self) -> None:
        self._by_language.clear()


def _portal_engines() -> Iterator[PortalJinja2]:
    return (e for e in engines.all() if isinstance(e, PortalJinja2))


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    # The settings after which Django itself loads the catalogues again.
    if setting in {"LANGUAGES", "LANGUAGE_CODE", "LOCALE_PATHS"}:
        for engine in _portal_engines():
            engine.forget_translations()
    elif setting in {"STATIC_URL", "STATIC_ROOT", "STORAGES"}:  # as Django's own receiver
        _static.cache_clear()
    elif setting == "ROOT_URLCONF":  # the default URLconf is not part of the links' key
        _reverse.cache_clear()


@receiver(file_changed)
def _catalogue_changed(*, file_path: Path, **kwargs: Any) -> None:
    # runserver loads a recompiled catalogue without restarting (Django's own receiver).
    if file_path.suffix == ".mo":
        for engine in _portal_engines():
            engine.forget_translations()


def page(
    request: HttpRequest, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    """Render a portal page with what every page shows (creditor, language switcher)."""
    portal = getattr(request, "portal", None)
    debtor = portal.debtor if portal is not None else None
    ctx: dict[str, Any] = {
        "debtor": debtor,
        "creditor": debtor.creditor if debtor else None,
        "verified": bool(portal and portal.verified),
        "LANGUAGE_CODE": request.LANGUAGE_CODE,
        # Each language in its own name (settings.LANGUAGES), as the option's lang= says.
        "LANGUAGES": settings.LANGUAGES,
    }
    ctx.update(context or {})
    return render(request, template, ctx, status=status, using=ENGINE)
