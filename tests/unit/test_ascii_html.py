"""HTML parts made ASCII with character references, so that they go 7bit: what an HTML
reader shows is unchanged, and where references would not be read the part stays
quoted-printable as it was."""

from __future__ import annotations

from email import message_from_string, policy
from email.message import EmailMessage
from html import unescape

from hypothesis import example, given
from hypothesis import strategies as st

from aliasdesk.mail.mime_parts import ascii_html, text_part


def _part(html: str) -> EmailMessage:
    part = message_from_string(text_part(html, "html"), policy=policy.default)
    assert isinstance(part, EmailMessage)
    return part


def test_letters_beyond_ascii_become_references_and_the_part_7bit() -> None:
    html = '<title>Grüße</title><p title="Zürich">Ärger – 🙂</p>'
    part = _part(html)
    assert part["Content-Transfer-Encoding"] == "7bit"
    assert part.get_content_charset() == "us-ascii"
    content = part.get_content()
    assert content.isascii()
    assert "&#252;" in content and "&#128578;" in content
    assert unescape(content) == html


def test_a_style_sheet_or_script_beyond_ascii_keeps_the_part_quoted_printable() -> None:
    for html in (
        "<style>p::before { content: 'ü' }</style><p>ü</p>",
        "<STYLE type=x>a{}\n/* Grüße */</STYLE><p>é</p>",
        "<script>var s = 'é';</script><p>é</p>",
        "<style>p { margin: 0 }</STYLE><p>é</p><style>open to the end ü",
    ):
        assert ascii_html(html) is None
        part = _part(html)
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert part.get_content().replace("\r\n", "\n") == html


def test_an_ascii_style_sheet_does_not_stop_the_references() -> None:
    html = "<style>p { margin: 0 }</style><p>Grüße</p>"
    assert ascii_html(html) == "<style>p { margin: 0 }</style><p>Gr&#252;&#223;e</p>"


def test_a_line_too_long_for_7bit_keeps_the_part_quoted_printable() -> None:
    html = "<p>" + "ü" * 400 + "</p>"  # 400 references: over 900 characters on one line
    part = _part(html)
    assert part["Content-Transfer-Encoding"] == "quoted-printable"
    assert part.get_content() == html


_PIECES = st.sampled_from(
    ["<p>", "</p>", "a", " ", "\n", "ü", "€", "🙂", "&", "&#", "&amp;", "252;", "=", "<br>"]
)


@given(st.lists(_PIECES, max_size=60).map("".join))
@example("&#252")
@example("&#ü")
def test_an_html_reader_reads_the_same(html: str) -> None:
    content = _part(html).get_content().replace("\r\n", "\n")
    assert unescape(content) == unescape(html.replace("\r\n", "\n"))
