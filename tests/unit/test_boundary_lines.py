"""The boundary matcher gives the stdlib parser's own trees, on every corpus message, the
bench's mailbox and boundaries chosen to break a naive matcher."""

from __future__ import annotations

import re
from email import feedparser
from email.message import Message

import pytest

from aliasdesk.mail import boundary_lines
from aliasdesk.mail.mime_tree import message_from_bytes
from bench.mailbox_gen import generate
from tests.support.corpus import CORPUS, message_files, require_corpus

require_corpus()


def tree(message: Message) -> list[object]:
    """Everything the parser decided, part by part: headers, preamble, epilogue, payload,
    defects."""
    described: list[object] = []
    for part in message.walk():
        payload = None if part.is_multipart() else part.get_payload()
        described.append(
            (
                part.get_unixfrom(),
                part.items(),
                part.preamble,
                part.epilogue,
                payload,
                [type(defect).__name__ for defect in part.defects],
            )
        )
    return described


def parsed_both_ways(raw: bytes) -> tuple[list[object], list[object]]:
    """The tree without the matcher, then with it (installed again whatever happens, as
    aliasdesk.mail.mime_tree left it)."""
    boundary_lines.uninstall()
    try:
        stdlib = tree(message_from_bytes(raw))
    finally:
        boundary_lines.install()
    return stdlib, tree(message_from_bytes(raw))


BOUNDARY_PATTERN = (
    "(?P<sep>" + re.escape("--a.b") + r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
)


def test_installed_on_import_for_small_mails_only() -> None:
    module_re = vars(feedparser)["re"]
    assert isinstance(module_re, boundary_lines._FeedparserRe)
    with boundary_lines.parsing(boundary_lines.SMALL_MAIL):
        assert isinstance(module_re.compile(BOUNDARY_PATTERN), boundary_lines.BoundaryLine)
        assert module_re.compile(r"\d+").match("12") is not None  # others: the real re
        with boundary_lines.parsing(boundary_lines.SMALL_MAIL + 1):  # a parse within a parse
            assert isinstance(module_re.compile(BOUNDARY_PATTERN), re.Pattern)
        assert isinstance(module_re.compile(BOUNDARY_PATTERN), boundary_lines.BoundaryLine)
    with boundary_lines.parsing(boundary_lines.SMALL_MAIL + 1):  # a long mail: tested in C
        assert isinstance(module_re.compile(BOUNDARY_PATTERN), re.Pattern)
    assert isinstance(module_re.compile(BOUNDARY_PATTERN), re.Pattern)  # outside a parse


@pytest.mark.parametrize(
    "boundary",
    ["simple", "a.b*c+d?(e)[f]{g}|h^i$j\\k", "with space", "=_Part_0_12.34", "-", "x" * 70],
)
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_hostile_boundaries(boundary: str, newline: str) -> None:
    lines = [
        "From: a@example.com",
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
        "",
        "preamble",
        f"--{boundary}X",  # longer than the separator: not a boundary
        f"--{boundary}",
        "Content-Type: text/plain",
        "",
        "one",
        f"--{boundary} \t",  # trailing blanks: still a boundary
        "",
        "two",
        f"--{boundary}--x",  # the close marker followed by text: the close, per the stdlib
        f"--{boundary}--",
        "epilogue",
    ]
    raw = newline.join(lines).encode()
    stdlib, ours = parsed_both_ways(raw)
    assert ours == stdlib
    assert len(ours) >= 2  # the multipart was read as one


def test_corpus_trees_are_the_stdlibs() -> None:
    files = message_files()
    assert len(files) > 300
    different = []
    for rel in files:
        stdlib, ours = parsed_both_ways((CORPUS / rel).read_bytes())
        if ours != stdlib:
            different.append(rel)
    assert different == []


def test_bench_mailbox_trees_are_the_stdlibs() -> None:
    multiparts = 0
    for mail in generate(300, tag="boundary"):
        stdlib, ours = parsed_both_ways(mail.raw)
        assert ours == stdlib
        multiparts += len(ours) > 1
    assert multiparts > 50
