"""The portal's templates translated when compiled (`portal.compiled_translations`) write
what Jinja2's standard `jinja2.ext.i18n`, with Django's gettext at render time, writes."""

from __future__ import annotations

import copy
import re
from typing import Any

import jinja2
import pytest
from django.conf import settings
from django.template import engines
from django.test import override_settings
from django.utils import translation
from django.utils.translation import gettext, ngettext
from markupsafe import Markup

from portal import templating
from portal.tests.conftest import sign_in
from portal.tests.test_templates import _TEMPLATE_FILES, _messages_in

LANGUAGES = ["en", "fr", "de"]


def standard_environment(**options: Any) -> jinja2.Environment:
    """The portal's environment the standard way: `jinja2.ext.i18n` with Django's gettext
    looked up at render time, the translation trusted as in Django's `{% translate %}`."""
    options["extensions"] = [*options.get("extensions", ()), "jinja2.ext.i18n"]
    env = jinja2.Environment(autoescape=options.pop("autoescape", True), **options)
    env.install_gettext_callables(
        lambda message: Markup(gettext(message)),  # noqa: S704 (the project's own catalogues)
        lambda singular, plural, n: Markup(ngettext(singular, plural, n)),  # noqa: S704
        newstyle=False,
    )
    env.globals["static"] = templating._static
    return env


def _standard_templates() -> list[dict]:
    templates = copy.deepcopy(settings.TEMPLATES)
    portal = next(t for t in templates if t.get("NAME") == templating.ENGINE)
    portal["BACKEND"] = "django.template.backends.jinja2.Jinja2"
    portal["OPTIONS"]["environment"] = f"{__name__}.standard_environment"
    return templates


def _render_both(source: str, language: str, **context: Any) -> tuple[str, str]:
    with translation.override(language):
        compiled = engines[templating.ENGINE].from_string(source).render(context)
    with override_settings(TEMPLATES=_standard_templates()), translation.override(language):
        standard = engines[templating.ENGINE].from_string(source).render(context)
    return compiled, standard


def test_the_standard_environment_is_not_the_compiled_one():
    with override_settings(TEMPLATES=_standard_templates()):
        env = engines[templating.ENGINE].env
        assert "jinja2.ext.InternationalizationExtension" in env.extensions
        assert not any("LiteralTranslations" in name for name in env.extensions)


# A value with markup and one with an apostrophe, for every placeholder.
_VALUES = {"name": "<b>Ann</b>", "creditor": "O'Brien & Co", "ref": "A<1>", "amount": "$1.00"}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("path", _TEMPLATE_FILES, ids=lambda p: p.name)
def test_every_message_of_every_template_reads_as_with_the_standard_extension(path, language):
    for message in _messages_in(path):
        literal = repr(message)
        placeholders = re.findall(r"%\((\w+)\)s", message)
        source = "{{ _(" + literal + ") }}"
        if placeholders:
            source = "{{ _(" + literal + ")|format(**values) }}"
        values = {p: _VALUES.get(p, f"<{p}>") for p in placeholders}
        compiled, standard = _render_both(source, language, values=values)
        assert compiled == standard, (message, language)


@pytest.mark.django_db
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("page", ["/p/", "/p/history/", "/p/preferences/"])
def test_portal_pages_read_as_with_the_standard_extension(client, account, language, page):
    sign_in(client, account.debtor_id)
    if language != "en":
        client.post("/p/language/", {"language": language})

    def html() -> str:
        response = client.get(page)
        assert response.status_code == 200
        # The CSRF field is masked afresh on every page, and the idle warning counts the
        # seconds left from the moment of the request.
        text = re.sub(r'value="[^"]{64}"', 'value="csrf"', response.content.decode())
        return re.sub(r'data-left="\d+"', 'data-left="left"', text)

    compiled = html()
    with override_settings(TEMPLATES=_standard_templates()):
        standard = html()
    assert compiled == standard
