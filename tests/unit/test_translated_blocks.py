"""``{% trans %}`` blocks translated when a template compiles (notify/translated_blocks.py),
and ``_()`` called without Jinja's detour (notify/render.py): the same mail, byte for byte,
as Jinja's own call of ``gettext`` on every render."""

from __future__ import annotations

import gettext
from pathlib import Path

import jinja2
import pytest

from aliasdesk.domain.languages import LANGUAGES
from aliasdesk.notify import render as render_module
from aliasdesk.notify.catalogue import kind_names
from aliasdesk.notify.language import MailLocale, load_catalog
from aliasdesk.notify.render import TemplateRenderer, sample_context
from aliasdesk.notify.translated_blocks import TRANSLATIONS_ATTRIBUTE, TranslatedBlocks

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "email"


def _every_mail(renderer: TemplateRenderer) -> dict[str, tuple[str, str, str]]:
    mails = {}
    targets = [(kind, None) for kind in kind_names()]
    targets += [(k, key) for key, kinds in renderer.overrides().items() for k in kinds]
    for kind, department in targets:
        for language in LANGUAGES:
            mail = renderer.render(
                kind, sample_context(kind, department), department, MailLocale(language)
            )
            mails[f"{department}/{kind}/{language}"] = (mail.subject, mail.text, mail.html)
    return mails


def test_every_kind_in_every_language_is_the_mail_jinjas_own_call_makes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled = _every_mail(TemplateRenderer(TEMPLATES))
    # Without a catalog to read, the extension keeps Jinja's own gettext call everywhere.
    monkeypatch.setattr(render_module, "TRANSLATIONS_ATTRIBUTE", "not_read_by_the_extension")
    # Compiled anew, not loaded from the cache of templates compiled with translations.
    monkeypatch.setattr(render_module, "bytecode_cache", lambda *_args: None)
    # And ``_()`` in expressions as Jinja's i18n extension calls it, not render.py's own.
    monkeypatch.setattr(render_module, "_translator", lambda _catalog: jinja2.ext._gettext_alias)
    calling = TemplateRenderer(TEMPLATES)
    assert getattr(calling._environment("de"), TRANSLATIONS_ATTRIBUTE, None) is None
    called = _every_mail(calling)
    assert len(compiled) >= len(kind_names()) * len(LANGUAGES)
    differing = [name for name in compiled if compiled[name] != called[name]]
    assert differing == []
    german = compiled["None/acknowledgement/de"]
    assert "Thanks for writing to" not in german[1] and "Hallo Dave" in german[1]


def _environment(catalog: gettext.NullTranslations) -> jinja2.Environment:
    env = jinja2.Environment(
        autoescape=jinja2.select_autoescape(["html"]), extensions=[TranslatedBlocks]
    )
    env.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
    setattr(env, TRANSLATIONS_ATTRIBUTE, catalog)
    return env


def test_a_plain_block_compiles_to_its_translation_and_calls_nothing() -> None:
    env = _environment(load_catalog(TEMPLATES, "de"))
    source = "{% trans %}Your request, as we received it:{% endtrans %}"
    code = env.compile(source, raw=True)
    assert "gettext" not in code
    assert env.from_string(source).render() != "Your request, as we received it:"
    plural = "{% trans count=n %}one mail{% pluralize %}{{ count }} mails{% endtrans %}"
    assert "ngettext" in env.compile(plural, raw=True)  # plurals keep the call


def test_values_are_escaped_where_the_template_escapes_and_percent_signs_survive() -> None:
    source = "{% trans name=who %}Hello {{ name }}, 100% done{% endtrans %}"
    for autoescape, expected in (
        (False, "Hello <b>Ann</b>, 100% done"),
        (True, "Hello &lt;b&gt;Ann&lt;/b&gt;, 100% done"),
    ):
        env = _environment(gettext.NullTranslations())
        env.autoescape = autoescape
        assert env.from_string(source).render(who="<b>Ann</b>") == expected
