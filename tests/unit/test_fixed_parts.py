"""Parts rendered once per language (the owner's command table), and quoted text as HTML."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import jinja2
import markupsafe
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aliasdesk.domain.languages import LANGUAGES
from aliasdesk.notify.fixed_parts import MOST_KEPT, fixed_part_function
from aliasdesk.notify.kinds import REPLY_COMMANDS
from aliasdesk.notify.language import MailLocale
from aliasdesk.notify.render import TemplateRenderer, sample_context, text_to_html

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "email"


def _environment(**templates: str) -> tuple[jinja2.Environment, list[str]]:
    """An environment whose loader records every template it reads."""
    loaded: list[str] = []

    def source(name: str) -> str:
        loaded.append(name)
        return templates[name]

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(source),
        autoescape=lambda name: bool(name and name.endswith(".html")),
        undefined=jinja2.StrictUndefined,
        cache_size=0,  # so that every render of a part shows up as a load
    )
    return env, loaded


def test_a_part_is_rendered_once_for_the_same_values() -> None:
    env, loaded = _environment(**{"part.txt": "{{ a }}-{{ b }}"})
    fixed_part = fixed_part_function(env)
    assert fixed_part("part.txt", a=1, b="x") == "1-x"
    assert fixed_part("part.txt", b="x", a=1) == "1-x"
    assert loaded == ["part.txt"]
    assert fixed_part("part.txt", a=2, b="x") == "2-x"
    assert loaded == ["part.txt", "part.txt"]


def test_a_part_sees_only_the_values_it_is_given() -> None:
    env, _ = _environment(**{"part.txt": "{{ ref }}", "body.txt": "{{ fixed_part('part.txt') }}"})
    env.globals["fixed_part"] = fixed_part_function(env)
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("body.txt").render(ref="HR-1")


def test_an_html_part_escapes_once() -> None:
    env, _ = _environment(
        **{
            "part.html": "<b>{{ word }}</b>",
            "body.html": "<p>{{ fixed_part('part.html', word=word) }}</p>",
        }
    )
    env.globals["fixed_part"] = fixed_part_function(env)
    html = env.get_template("body.html").render(word="<script>")
    assert html == "<p><b>&lt;script&gt;</b></p>"
    assert isinstance(fixed_part_function(env)("part.html", word="x"), markupsafe.Markup)


def test_values_that_cannot_be_a_key_are_rendered_every_time() -> None:
    env, loaded = _environment(**{"part.txt": "{{ items | join(',') }}"})
    fixed_part = fixed_part_function(env)
    assert fixed_part("part.txt", items=["a", "b"]) == "a,b"
    assert fixed_part("part.txt", items=["a", "b"]) == "a,b"
    assert loaded == ["part.txt", "part.txt"]


def test_the_cache_starts_over_when_full() -> None:
    env, loaded = _environment(**{"part.txt": "{{ n }}"})
    fixed_part = fixed_part_function(env)
    for n in range(MOST_KEPT + 1):
        fixed_part("part.txt", n=n)
    fixed_part("part.txt", n=MOST_KEPT)  # kept: the cache started over with it
    fixed_part("part.txt", n=0)  # gone with the rest
    assert len(loaded) == MOST_KEPT + 2


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_owner_mail_lists_every_command_in_its_language(language: str) -> None:
    renderer = TemplateRenderer(TEMPLATES)
    context = sample_context("assignment")
    english = renderer.render("assignment", context)
    mail = renderer.render("assignment", context, locale=MailLocale(language))
    again = renderer.render("assignment", context, locale=MailLocale(language))
    assert again == mail
    for command in REPLY_COMMANDS:
        syntax = markupsafe.escape(command.syntax)
        assert mail.text.count(f"  {command.syntax:<34} ") == 1
        assert mail.html.count(f">{syntax}</td>") == 1
    if language != "en":  # the meanings are translated, not the English cached for all
        assert _table(mail.text) != _table(english.text)


def _table(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("  #")]


def test_an_edited_command_table_is_picked_up(tmp_path: Path) -> None:
    folder = tmp_path / "email"
    shutil.copytree(TEMPLATES, folder)
    renderer = TemplateRenderer(folder)
    context = sample_context("assignment")
    assert "Commands:" not in renderer.render("assignment", context).text
    table = folder / "_commands.txt"
    table.write_text("Commands:\n" + table.read_text())
    later = time.time() + 5  # a new modification time, whatever the clock's resolution
    os.utime(table, (later, later))
    renderer._looked_at -= TemplateRenderer.RECHECK_SECONDS
    assert "Commands:" in renderer.render("assignment", context).text


def _per_line(value: str) -> str:
    """The quote as it was built before: each line escaped on its own."""
    lines = value.splitlines() or [""]
    return str(markupsafe.Markup("<br>\n").join(markupsafe.escape(line) for line in lines))


@given(st.text(alphabet=st.sampled_from("ab<>&\"' \r\n\x0b\x0c\x1c\x85\u2028\u2029é")))
def test_quoted_text_as_html_is_escaped_line_by_line(value: str) -> None:
    html = text_to_html(value)
    assert isinstance(html, markupsafe.Markup)
    assert str(html) == _per_line(value)
