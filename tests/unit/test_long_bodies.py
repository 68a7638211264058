"""Long base64 bodies set aside while the parser reads the rest: the tree is the stdlib's
own, on the corpus, the bench's mailbox, stretches placed where a careless swap would
change it, and random line soups."""

from __future__ import annotations

import base64
import os
import re
from email import policy
from email.message import Message
from email.parser import BytesParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aliasdesk.mail import boundary_lines, long_bodies
from aliasdesk.mail.mime_tree import message_from_bytes
from bench.mailbox_gen import generate
from tests.support.corpus import CORPUS, message_files, require_corpus
from tests.unit.test_boundary_lines import tree

require_corpus()

B64 = base64.encodebytes(bytes(range(256)) * 40).decode().splitlines()  # 10 KB, 76 a line


def exact_tree(message: Message) -> list[object]:
    """``tree``, plus each part's text exactly as parsed: ``get_payload()`` decodes a body
    holding 8-bit bytes, which would hide a payload stored in another form."""
    texts = [vars(part).get("_payload") for part in message.walk()]
    return [*tree(message), [text for text in texts if isinstance(text, str)]]


def stdlib_tree(raw: bytes) -> list[object]:
    """The plain stdlib parse (its own ``re``), as the tree to match."""
    boundary_lines.uninstall()
    try:
        return exact_tree(BytesParser(policy=policy.compat32).parsebytes(raw))
    finally:
        boundary_lines.install()


def assert_same_tree(raw: bytes) -> list[object]:
    ours = exact_tree(message_from_bytes(raw))
    assert ours == stdlib_tree(raw)
    return ours


def set_aside_and_back(raw: bytes) -> bool:
    aside = long_bodies.set_aside(raw)
    if aside is None:
        return False
    return aside.put_back(BytesParser(policy=policy.compat32).parsebytes(aside.stub))


def multipart(newline: str, *body: str) -> bytes:
    head = ["From: a@example.com", 'Content-Type: multipart/mixed; boundary="b"', ""]
    return newline.join([*head, *body]).encode()


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
@pytest.mark.parametrize(
    "body",
    [
        # the usual: a file as the last part, right before the close delimiter
        ["--b", "Content-Type: text/plain", "", "hi", "--b", "Content-Transfer-Encoding: base64",
         "", *B64, "--b--", ""],
        # a preamble and an epilogue of base64, and a part without headers
        ["", *B64, "--b", "", *B64, "--b--", "", *B64, ""],
        # blank lines and a line starting with "-" inside, a boundary-like line after
        ["--b", "", *B64[:50], "", *B64[50:], "-not a boundary", *B64, "--bX", *B64, "--b--"],
        # no close delimiter: the mail ends inside the part, without a final line end
        ["--b", "", *B64],
        # base64 right after the boundary line (no blank line): read by the parser
        ["--b", *B64, "", *B64, "--b--"],
    ],
)  # fmt: skip
def test_stretches_come_back_where_the_parser_put_them(newline: str, body: list[str]) -> None:
    raw = multipart(newline, *body)
    assert set_aside_and_back(raw)
    assert_same_tree(raw)


def test_a_single_part_body_keeps_its_last_line_end() -> None:
    for end in ("\r\n", "", "\r\n\r\n"):
        raw = "Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\n" + "\r\n".join(B64) + end
        assert set_aside_and_back(raw.encode())
        assert_same_tree(raw.encode())


def test_runs_of_blank_lines_are_bodies_too() -> None:
    """Blank lines by the thousand before and between stretches (the shape that made an
    earlier search read the same bytes again from every one of them)."""
    blanks = [""] * 3000
    raw = multipart("\n", "--b", *blanks, "-", *blanks, *B64, *blanks, "-", "--b--")
    assert set_aside_and_back(raw)
    assert_same_tree(raw)


def test_a_body_with_8bit_bytes_keeps_them_as_parsed() -> None:
    """Its text is kept with the bytes escaped, as the parser keeps it, not decoded."""
    head = b"Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    raw = head + "Grüße\r\n\r\n".encode() + "\r\n".join(B64).encode() + b"\r\n"
    assert set_aside_and_back(raw)
    assert_same_tree(raw)


@pytest.mark.parametrize(
    "raw",
    [
        multipart("\r\n", "--b", "Content-Type: message/rfc822", "", "Subject: in", "", *B64),
        multipart("\r\n", "--b", "Content-Type: Multipart/Digest; boundary=c", "", *B64),
        multipart("\r\n", "--b", "X-Nul: \x00", "", *B64),
        b"Subject: short\r\n\r\n" + "\r\n".join(B64[:20]).encode(),
    ],
)
def test_mail_that_must_be_read_whole_is(raw: bytes) -> None:
    assert long_bodies.set_aside(raw) is None
    assert_same_tree(raw)


def test_the_text_itself_is_kept_not_copied() -> None:
    raw = multipart("\r\n", "--b", "", *B64, "--b--")
    message = message_from_bytes(raw)
    [part] = message.get_payload()
    assert part.get_payload() == "\r\n".join(B64)


def test_bench_mailbox_with_files_is_set_aside_and_the_same() -> None:
    set_aside = 0
    for mail in generate(300, tag="long"):
        assert_same_tree(mail.raw)
        set_aside += set_aside_and_back(mail.raw)
    assert set_aside >= 15  # the mails with a 100 KB file


def test_corpus_trees_are_the_stdlibs() -> None:
    files = message_files()
    assert len(files) > 300
    different = [rel for rel in files if not _same((CORPUS / rel).read_bytes())]
    assert different == []


def _same(raw: bytes) -> bool:
    return exact_tree(message_from_bytes(raw)) == stdlib_tree(raw)


LINES = st.sampled_from(
    ["", "QUJD", "QUJDRA==", "--b", "--b--", "--bX", "-", "x: y", "Content-Type: multipart/mixed;"
     ' boundary="c"', "--c", "--c--", " folded", "text with spaces", "AAAA\rBBBB",
     "Grüße", "=41=42", "Content-Transfer-Encoding: base64"]
)  # fmt: skip


@settings(max_examples=int(os.environ.get("SOUP_EXAMPLES", "300")), deadline=None)
@given(st.lists(LINES, max_size=40), st.sampled_from(["\r\n", "\n"]), st.booleans())
def test_random_line_soups_parse_the_same(lines: list[str], newline: str, ended: bool) -> None:
    """With the thresholds lowered so that short stretches are set aside too."""
    raw = multipart(newline, *lines) + (newline.encode() if ended else b"")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(long_bodies, "SHORTEST_MAIL", 0)
        shorter = re.compile(rb"(?<=\n)\r?\n((?:[A-Za-z0-9+/=]++\r?\n)+)")
        patch.setattr(long_bodies, "_STRETCH", shorter)
        ours = exact_tree(message_from_bytes(raw))
    assert ours == stdlib_tree(raw)
