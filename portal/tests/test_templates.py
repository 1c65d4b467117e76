"""The portal's Jinja2 templates: translated when compiled, and still extracted by makemessages."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jinja2
import pytest
from babel.messages.pofile import read_po
from django.conf import settings
from django.template import engines
from django.urls import set_script_prefix
from django.utils import translation
from django.utils.translation.template import templatize

from portal import templating
from portal.tests.conftest import sign_in

TEMPLATES = Path(settings.BASE_DIR) / "portal" / "jinja2"
LOCALE = Path(settings.BASE_DIR) / "portal" / "locale"


def _render(source: str, language: str | None, **context) -> str:
    with translation.override(language):
        return engines[templating.ENGINE].from_string(source).render(context)


def test_a_literal_is_translated_in_the_active_language():
    source = '{{ _("Balance") }}'
    assert _render(source, "en") == "Balance"
    assert _render(source, "fr") == "Solde"
    assert _render(source, "de") == "Kontostand"
    assert _render(source, "fr") == "Solde"  # each language keeps its own compiled copy


def test_translations_are_trusted_and_format_values_are_escaped():
    source = '{{ _("Hello %(name)s")|format(name=name) }}|{{ name }}'
    assert _render(source, "fr", name="<b>Ann</b>") == (
        "Bonjour &lt;b&gt;Ann&lt;/b&gt;|&lt;b&gt;Ann&lt;/b&gt;"
    )
    # A translation with an apostrophe is not escaped (as Django's {% translate %}).
    receipt = "Use your browser's print command to print or save this receipt."
    assert _render('{{ _("' + receipt + '") }}', "en") == receipt


def test_a_translation_is_compiled_in_not_looked_up(monkeypatch):
    engine = engines[templating.ENGINE]
    with translation.override("fr"):
        template = engine.from_string('{{ _("Balance") }}')
        monkeypatch.setattr(translation, "gettext", lambda message: pytest.fail(message))
        assert template.render({}) == "Solde"


@pytest.mark.parametrize(
    "source",
    ["{{ _(label) }}", '{{ _("Balance", "x") }}', '{{ _("Hello %(name)s", name=x) }}', "{{ _ }}"],
)
def test_underscore_takes_exactly_one_quoted_string(source):
    with pytest.raises(jinja2.TemplateSyntaxError, match="one quoted string"):
        _render(source, "en")


def test_compiled_translations_give_way_to_new_catalogues(tmp_path, settings):
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo
    from django.utils.autoreload import file_changed

    source = '{{ _("Balance") }}'
    assert _render(source, "fr") == "Solde"
    catalog = Catalog(locale="fr")
    catalog.add("Balance", "Solde restant")
    (tmp_path / "fr" / "LC_MESSAGES").mkdir(parents=True)
    with open(tmp_path / "fr" / "LC_MESSAGES" / "django.mo", "wb") as mo:
        write_mo(mo, catalog)
    # A project catalogue first in LOCALE_PATHS wins over the apps' (Django reloads them).
    settings.LOCALE_PATHS = [str(tmp_path), *settings.LOCALE_PATHS]
    assert _render(source, "fr") == "Solde restant"
    engine = engines[templating.ENGINE]
    with translation.override("fr"):
        compiled = engine.env
        assert engine.env is compiled  # kept while the catalogues stay
    # runserver's signal for a recompiled catalogue drops the compiled copies.
    file_changed.send(sender=None, file_path=Path("portal/views.py"))  # not a catalogue
    with translation.override("fr"):
        assert engine.env is compiled
    file_changed.send(sender=None, file_path=Path("locale/fr/LC_MESSAGES/django.mo"))
    with translation.override("fr"):
        assert engine.env is not compiled


def _messages_in(path: Path) -> list[str]:
    """The `_("...")` literals of a template, read with Jinja2's own lexer."""
    tokens = list(jinja2.Environment(autoescape=True).lex(path.read_text()))
    found = []
    for i, (_, kind, value) in enumerate(tokens):
        if kind == "name" and value == "_" and tokens[i + 2][1] == "string":
            found.append(ast.literal_eval(tokens[i + 2][2]))
    return found


_TEMPLATE_FILES = sorted(TEMPLATES.rglob("*.html"))


@pytest.mark.parametrize("path", _TEMPLATE_FILES, ids=lambda p: p.name)
def test_makemessages_extracts_every_message_of_a_template(path):
    """makemessages reads .html files with Django's template lexer (`templatize`), which
    finds `_("...")` in `{{ }}` and `{% %}`; a Jinja2 construct that hides one from it
    (whitespace control around it, say) would drop the message from the catalogues."""
    messages = _messages_in(path)
    assert messages, "a portal page with no text to translate"
    python = templatize(path.read_text(), origin=str(path))  # what xgettext reads
    extracted = [ast.literal_eval(m) for m in re.findall(r"""_\(((?:".*?")|(?:'.*?'))\)""", python)]
    assert extracted == messages


@pytest.mark.parametrize("language", ["fr", "de"])
def test_every_message_of_the_templates_is_translated(language):
    with open(LOCALE / language / "LC_MESSAGES" / "django.po", "rb") as po:
        catalog = read_po(po)
    missing = sorted(
        {m for path in _TEMPLATE_FILES for m in _messages_in(path)}
        - {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    )
    assert missing == []


@pytest.mark.django_db
def test_links_are_remembered_per_script_prefix_and_language(client, account):
    sign_in(client, account.debtor_id)
    pay = f"/p/a/{account.pk}/pay/"
    for _ in range(2):  # the second time from what was remembered
        set_script_prefix("/collect/")  # as WSGIHandler does from SCRIPT_NAME
        try:
            under = client.get("/p/").content.decode()
        finally:
            set_script_prefix("/")
        assert 'href="/collect/p/history/"' in under and f'href="/collect{pay}"' in under
        page = client.get("/p/").content.decode()
        assert 'href="/p/history/"' in page and f'href="{pay}"' in page
        assert "/collect/" not in page
        client.post("/p/language/", {"language": "fr"})
        assert "Historique" in client.get("/p/").content.decode()
        client.post("/p/language/", {"language": "en"})


@pytest.mark.django_db
def test_static_urls_follow_the_static_files_settings(client, account, settings):
    sign_in(client, account.debtor_id)
    assert 'href="/static/portal/portal.css"' in client.get("/p/").content.decode()
    settings.STATIC_URL = "/assets/"
    assert 'href="/assets/portal/portal.css"' in client.get("/p/").content.decode()


def test_links_follow_a_changed_root_urlconf(settings):
    assert templating.urls(None)["url"]("portal:history") == "/p/history/"
    settings.ROOT_URLCONF = "portal.tests.urls_elsewhere"
    assert templating.urls(None)["url"]("portal:history") == "/q/history/"
