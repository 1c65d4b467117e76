"""The portal's templates translated when compiled: the one place the portal replaces a
standard mechanism for speed (docs/benchmarks.md, "Standard mechanisms and the exceptions
kept", has the figure and the command that measures it).

What it replaces: Jinja2's own `jinja2.ext.i18n` extension with Django's `gettext` installed
(`install_gettext_callables`), which looks each `_("...")` up at render time. Here each
`_("...")` is replaced by its translation when the template is compiled, so a page calls no
`gettext` at all. That needs one compiled copy of each template per language:
`PortalJinja2` (the `portal` engine's backend in `settings.TEMPLATES`) is Django's Jinja2
backend with one environment per language, picked by the active language. The copies are
dropped whenever Django loads its catalogues again (the `LANGUAGES`, `LANGUAGE_CODE` or
`LOCALE_PATHS` settings change in tests, or runserver sees a recompiled `.mo` file).

The output is the standard extension's, with the translation as trusted text (as Django's
`{% translate %}`): `portal/tests/test_compiled_translations.py` renders every message of
every template, and whole pages, both ways and compares them. `_` takes exactly one quoted
string (what `makemessages` extracts); anything else is a syntax error when the template
compiles.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.template import engines
from django.template.backends.jinja2 import Jinja2
from django.utils import translation
from django.utils.autoreload import file_changed
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream


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


@receiver(file_changed)
def _catalogue_changed(*, file_path: Path, **kwargs: Any) -> None:
    # runserver loads a recompiled catalogue without restarting (Django's own receiver).
    if file_path.suffix == ".mo":
        for engine in _portal_engines():
            engine.forget_translations()
