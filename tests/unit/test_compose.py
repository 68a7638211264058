"""Outgoing mail: headers, threading, structure, and no header injection from mail input."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from html import unescape
from typing import Any

import pytest

from aliasdesk.mail.compose import (
    MAX_REFERENCES,
    ComposeError,
    bounded_references,
    compose,
    make_message_id,
    normalise_message_id,
    one_line,
)
from aliasdesk.mail.filenames import safe_filename

EXPECTED_HEADERS = {
    "from", "to", "subject", "date", "message-id", "in-reply-to", "references",
    "auto-submitted", "x-auto-response-suppress", "x-aliasdesk-loop", "mime-version",
    "content-type",
}  # fmt: skip


def build(**changes: Any) -> bytes:
    arguments: dict[str, Any] = {
        "from_address": "hr@example.com",
        "from_name": "Human Resources",
        "to": ["dave@example.com"],
        "subject": "[HR-42] Parental leave",
        "text": "Hello Dave,\n\nAlice has got this.\n",
        "html": "<p>Hello Dave,</p><p>Alice has got this.</p>",
        "message_id": "<ack-17@example.com>",
        "in_reply_to": "<request-1@mail.example.com>",
        "references": ["<request-1@mail.example.com>"],
        "auto_submitted": "auto-replied",
        "extra_headers": {"X-Aliasdesk-Loop": "example.com"},
        "date": datetime(2025, 3, 3, 9, 15, tzinfo=UTC),
    }
    arguments.update(changes)
    return compose(**arguments)


def parse(data: bytes) -> EmailMessage:
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def header_names(data: bytes) -> list[str]:
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return [line.split(":", 1)[0].lower() for line in head.split("\r\n") if line[:1] not in " \t"]


def test_all_headers_present() -> None:
    data = build()
    mail = parse(data)
    assert set(header_names(data)) == EXPECTED_HEADERS
    assert mail["From"] == "Human Resources <hr@example.com>"
    assert mail["To"] == "dave@example.com"
    assert mail["Message-ID"] == "<ack-17@example.com>"
    assert mail["In-Reply-To"] == "<request-1@mail.example.com>"
    assert mail["References"] == "<request-1@mail.example.com>"
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["X-Auto-Response-Suppress"] == "All"
    assert mail["X-Aliasdesk-Loop"] == "example.com"
    assert mail["Date"] == "Mon, 03 Mar 2025 09:15:00 +0000"


def test_lines_end_in_crlf() -> None:
    data = build()
    assert b"\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_reply_to_and_no_threading_headers_for_a_fresh_mail() -> None:
    data = build(in_reply_to=None, references=[], reply_to="hr+HR-42@example.com")
    mail = parse(data)
    assert mail["Reply-To"] == "hr+HR-42@example.com"
    assert "In-Reply-To" not in mail and "References" not in mail


def test_multipart_alternative_structure() -> None:
    mail = parse(build())
    assert mail.get_content_type() == "multipart/alternative"
    parts = list(mail.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert "Alice has got this." in parts[0].get_content()
    assert all("MIME-Version" not in p for p in parts)


def test_text_only_mail_is_a_single_part() -> None:
    mail = parse(build(html=None))
    assert mail.get_content_type() == "text/plain"
    assert "Alice has got this." in mail.get_content()


def test_attachments_wrap_the_alternative_in_mixed() -> None:
    data = build(attachments=[("leave-form.pdf", "application/pdf", b"%PDF-1.4 test")])
    mail = parse(data)
    assert mail.get_content_type() == "multipart/mixed"
    body, attachment = list(mail.iter_parts())
    assert body.get_content_type() == "multipart/alternative"
    assert attachment.get_filename() == "leave-form.pdf"
    assert attachment.get_content() == b"%PDF-1.4 test"


def test_attachment_name_cannot_carry_a_path_or_break_a_header() -> None:
    data = build(attachments=[("../../etc/pass\r\nwd", "not a type", b"x")])
    attachment = list(parse(data).iter_parts())[1]
    assert attachment.get_filename() == "pass wd"
    assert attachment.get_content_type() == "application/octet-stream"


@pytest.mark.parametrize(
    "evil",
    [
        "Hello\r\nBcc: victim@example.net",
        "Hello\nBcc: victim@example.net",
        "Hello\rBcc: victim@example.net",
        "Hello\u2028Bcc: victim@example.net",
        "Hello\x85Bcc: victim@example.net",
    ],
)
def test_header_injection_in_subject_and_name_is_neutralised(evil: str) -> None:
    data = build(subject=evil, from_name=evil, extra_headers={"X-Aliasdesk-Loop": evil})
    assert set(header_names(data)) == EXPECTED_HEADERS
    mail = parse(data)
    assert "Bcc" not in mail
    assert mail["Subject"] == "Hello Bcc: victim@example.net"
    assert mail["From"].addresses[0].addr_spec == "hr@example.com"
    assert mail["From"].addresses[0].display_name == "Hello Bcc: victim@example.net"


def test_non_ascii_subject_and_name_round_trip() -> None:
    subject = "[HR-42] Élternzeit ab Juni – Frage zu Überstunden 🙂"
    data = build(subject=subject, from_name="Personalabteilung Zürich")
    data.decode("ascii")  # the header block stays 7-bit: RFC 2047 encoded words
    assert b"=?utf-8?" in data
    mail = parse(data)
    assert mail["Subject"] == subject
    assert mail["From"].addresses[0].display_name == "Personalabteilung Zürich"


def test_non_ascii_body_round_trips() -> None:
    data = build(text="Grüße aus der Personalabteilung\n", html="<p>Grüße</p>")
    data.decode("ascii")  # 7-bit transfer encodings: no reliance on 8BITMIME
    text, html = list(parse(data).iter_parts())
    assert text.get_content().replace("\r\n", "\n") == "Grüße aus der Personalabteilung\n"
    assert html["Content-Transfer-Encoding"] == "7bit"  # ASCII, with character references
    assert html.get_content() == "<p>Gr&#252;&#223;e</p>"
    assert unescape(html.get_content()) == "<p>Grüße</p>"


@pytest.mark.parametrize(
    "recipient",
    ["dave@example.com, eve@example.net", "Dave <dave@example.com>", "dave", "", "a@b@c",
     "dave@example.com\r\nBcc: eve@example.net", "dave@exa mple.com"],
)  # fmt: skip
def test_recipients_must_be_single_plain_addresses(recipient: str) -> None:
    with pytest.raises(ComposeError) as caught:
        build(to=[recipient])
    assert caught.value.field == "to"


def test_several_recipients() -> None:
    mail = parse(build(to=["dave@example.com", "erin@example.com"]))
    assert [a.addr_spec for a in mail["To"].addresses] == ["dave@example.com", "erin@example.com"]


def test_no_recipient_is_an_error() -> None:
    with pytest.raises(ComposeError):
        build(to=[])


@pytest.mark.parametrize(
    "name", ["To", "bcc", "Subject", "Message-ID", "Content-Type", "Auto-Submitted"]
)
def test_extra_headers_cannot_override_structure(name: str) -> None:
    with pytest.raises(ComposeError):
        build(extra_headers={name: "x"})


def test_extra_header_names_are_checked() -> None:
    with pytest.raises(ComposeError):
        build(extra_headers={"X-Bad Name": "x"})


def test_auto_submitted_must_not_be_no() -> None:
    with pytest.raises(ComposeError):
        build(auto_submitted="no")


def test_malformed_thread_ids_are_dropped_not_fatal() -> None:
    data = build(in_reply_to="garbage with spaces", references=["<ok@x>", "<bad", "also bad"])
    mail = parse(data)
    assert "In-Reply-To" not in mail
    assert mail["References"] == "<ok@x>"


def test_references_are_bounded_and_end_with_the_parent() -> None:
    history = [f"<m{n}@example.com>" for n in range(50)]
    ids = bounded_references(history, "<parent@example.com>")
    assert len(ids) == MAX_REFERENCES
    assert ids[0] == "<m0@example.com>"  # the thread's root is kept
    assert ids[-1] == "<parent@example.com>"
    assert ids[-2] == "<m49@example.com>"
    mail = parse(build(references=history, in_reply_to="<parent@example.com>"))
    assert len(mail["References"].split()) == MAX_REFERENCES


def test_references_are_deduplicated() -> None:
    ids = bounded_references(["<a@x>", "<b@x>", "<a@x>", "<p@x>"], "<p@x>")
    assert ids == ["<a@x>", "<b@x>", "<p@x>"]


def test_make_message_id_is_deterministic() -> None:
    first = make_message_id("delivery-17-ack", "Example.COM")
    assert first == "<delivery-17-ack@example.com>"
    assert make_message_id("delivery-17-ack", "example.com") == first
    assert make_message_id("a b<c>@d", "example.com") == "<a-b-c--d@example.com>"
    assert normalise_message_id(first) == first
    with pytest.raises(ComposeError):
        make_message_id("x", "bad domain")


def test_own_message_id_is_validated() -> None:
    with pytest.raises(ComposeError):
        build(message_id="not an id")


# --- round trips: what compose writes must parse back to what it was given ------------

HEADER_ORDER = [
    "from", "to", "reply-to", "subject", "date", "message-id", "in-reply-to", "references",
    "auto-submitted", "x-auto-response-suppress", "x-aliasdesk-loop", "mime-version",
    "content-type",
]  # fmt: skip


def lines_of(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n")
    return data[:-2].split(b"\r\n")


def as_lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def expected_name(filename: str, content_type: str) -> str:
    return safe_filename(one_line(filename), content_type.strip().lower())


def check_wire_format(data: bytes) -> None:
    """CRLF only, 7-bit, RFC 5322 line limits, header folding where a space allows it."""
    data.decode("ascii")
    bare = data.replace(b"\r\n", b"")
    assert b"\r" not in bare and b"\n" not in bare
    assert all(len(line) <= 998 for line in lines_of(data))
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    for line in head.split("\r\n"):
        # Longer than 78 only when no space is left to fold at.
        assert len(line) <= 78 or " " not in line.split(": ", 1)[-1].strip(), line


def referenced(html: str) -> str:
    """Every character beyond ASCII as a decimal character reference."""
    return "".join(char if char.isascii() else f"&#{ord(char)};" for char in html)


def check_part_encoding(part: EmailMessage) -> None:
    raw = part.get_payload()
    assert isinstance(raw, str)
    encoding = part["Content-Transfer-Encoding"]
    if encoding in ("quoted-printable", "base64"):
        assert all(len(line) <= 76 for line in raw.split("\r\n"))
    if encoding == "quoted-printable":
        assert "From " not in raw  # an mbox file would mangle it to ">From "
        assert "\r\n.\r\n" not in f"\r\n{raw}"
    assert encoding in ("7bit", "quoted-printable", "base64")
    assert (encoding == "base64") == (part.get_content_disposition() == "attachment")


def check_round_trip(arguments: dict[str, Any]) -> EmailMessage:
    """Compose, check the bytes on the wire, parse, and compare every field."""
    data = build(**arguments)
    check_wire_format(data)
    order = [name for name in header_names(data) if name in HEADER_ORDER]
    assert order == [name for name in HEADER_ORDER if name in order]
    mail = parse(data)
    assert mail.defects == []
    assert str(mail["Subject"]) == one_line(arguments["subject"])
    [sender] = mail["From"].addresses
    assert sender.display_name == one_line(arguments["from_name"])
    assert sender.addr_spec == "hr@example.com"
    assert [a.addr_spec for a in mail["To"].addresses] == arguments["to"]
    assert mail["Message-ID"] == arguments["message_id"]
    assert mail.get("Reply-To") == arguments.get("reply_to")
    assert mail.get("In-Reply-To") == normalise_message_id(arguments["in_reply_to"])
    thread = bounded_references(arguments["references"], arguments["in_reply_to"])
    assert (mail["References"] or "").split() == thread
    assert mail.get_all("MIME-Version") == ["1.0"]

    parts = list(mail.walk())
    assert all("MIME-Version" not in part for part in parts[1:])
    leaves = [part for part in parts if not part.is_multipart()]
    for leaf in leaves:
        check_part_encoding(leaf)
    attachments = arguments["attachments"]
    texts = leaves[: len(leaves) - len(attachments)]
    wanted = [arguments["text"]] + ([arguments["html"]] if arguments["html"] is not None else [])
    assert [t.get_content_type() for t in texts] == ["text/plain", "text/html"][: len(wanted)]
    single = len(parts) == 1
    for part, text in zip(texts, wanted, strict=True):
        expected = as_lf(text)
        if single and expected and not expected.endswith("\n"):
            expected += "\n"  # the mail itself ends with a line break
        content = as_lf(part.get_content())
        if part.get_content_subtype() == "html" and part["Content-Transfer-Encoding"] == "7bit":
            expected = referenced(expected)  # what an HTML reader shows is the same
            assert unescape(content) == unescape(as_lf(text))
        assert content == expected
    for part, (name, ctype, content) in zip(leaves[len(texts) :], attachments, strict=True):
        assert part.get_content_disposition() == "attachment"
        assert part.get_filename() == expected_name(name, ctype)
        assert part.get_payload(decode=True) == content
    return mail


ROUND_TRIP_CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "non-ASCII subject and name": {
        "subject": "[HR-42] Élternzeit ab Juni – Frage zu Überstunden 🙂",
        "from_name": "Personalabteilung Zürich",
    },
    "CJK subject": {"subject": "[HR-7] 休暇の申請について、来週の月曜日から金曜日まで" * 3},
    "long ASCII subject folds": {"subject": "[HR-42] " + "parental leave question " * 20},
    "one 1200-character word": {"subject": "x" * 1200},
    "long non-ASCII name": {"from_name": "Müller-Lüdenscheidt, Ömer " * 12},
    "name with specials": {"from_name": 'HR, "People" (Team) <x> \\ Dept.'},
    "empty subject and name": {"subject": "", "from_name": ""},
    "empty bodies": {"text": "", "html": ""},
    "empty text only": {"text": "", "html": None},
    "text without final break": {"text": "no line end", "html": None},
    "dots and From lines, ASCII": {"text": ".\n..\nFrom here\n.\nFrom: x\n", "html": ".\n"},
    "dots and From lines, UTF-8": {"text": "Grüße\n.\nFrom here\nsee From x\n.", "html": None},
    "very long lines": {"text": "a" * 5000 + "\n" + "b " * 3000, "html": "<p>" + "c" * 2000},
    "long lines with From after a soft break": {"text": "y" * 73 + "From " * 40, "html": None},
    "CR and CRLF line ends": {"text": "one\r\ntwo\rthree\n\nfour\r", "html": "a\r\nb"},
    "trailing spaces and tabs": {"text": "end  \nlast\t\nmore \t", "html": "x = y \n"},
    "NUL and controls": {"text": "a\x00b\x0bc\x0cd\x1fe\n", "html": None},
    "many references": {
        "references": [f"<message-{n}-of-a-long-thread@mail.example.org>" for n in range(60)]
    },
    "two recipients, reply-to": {
        "to": ["dave@example.com", "erin@example.com"], "reply_to": "hr+HR-42@example.com"
    },
    "attachments": {
        "attachments": [
            ("Übersicht März.pdf", "application/pdf", bytes(range(256)) * 10),
            ('say "hi".txt', "text/plain", b"hello\r\n"),
            ("empty.bin", "bogus", b""),
            ("../x\\y", "image/PNG", b"\x89PNG"),
        ]
    },
    "very long attachment names": {
        "html": None,
        "attachments": [("ä" * 400 + ".pdf", "application/pdf", b"1"), ("n" * 1500, "a/b", b"2")],
    },
}  # fmt: skip


@pytest.mark.parametrize("case", list(ROUND_TRIP_CASES), ids=list(ROUND_TRIP_CASES))
def test_round_trip(case: str) -> None:
    defaults = {
        "to": ["dave@example.com"], "subject": "[HR-42] Parental leave",
        "from_name": "Human Resources", "text": "Hello Dave,\n", "html": "<p>Hello</p>",
        "message_id": "<ack-17@example.com>", "in_reply_to": "<request-1@mail.example.com>",
        "references": ["<request-1@mail.example.com>"], "attachments": [],
    }  # fmt: skip
    arguments = {**defaults, **ROUND_TRIP_CASES[case]}
    check_round_trip(arguments)


_HEADER_ALPHABET = "abcdefXYZ 0123 ,;:.\"'()<>[]@\\/_-+*!#äöüßéЖ漢🙂\u00a0\t\r\n\x85\u2028\x00\x7f"
_BODY_ALPHABET = "abc XYZ 019 =?_.\t\r\n\x0b\x00äöü€漢🙂\u2028"
_BODY_WORDS = ["From ", ".", "\n.\n", "\nFrom ", "=?utf-8?q?x?=", "--", " \n", "=_", "a" * 120]


def random_text(rng: random.Random, alphabet: str, words: list[str], size: int) -> str:
    pieces = rng.choices([*alphabet, *words], k=rng.randrange(size))
    return "".join(pieces)


@pytest.mark.parametrize("seed", range(150))
def test_round_trip_of_generated_input(seed: int) -> None:
    rng = random.Random(seed)
    # "=" stays out of headers: a literal "=?…?=" in ASCII text is left as it is and a
    # reader would decode it; that is not the subject of this test.
    arguments: dict[str, Any] = {
        "subject": random_text(rng, _HEADER_ALPHABET, ["x" * 100, "Re: "], 300),
        "from_name": random_text(rng, _HEADER_ALPHABET, [], 120),
        "to": [f"user{n}@example.com" for n in range(rng.randint(1, 4))],
        "text": random_text(rng, _BODY_ALPHABET, _BODY_WORDS, 3000),
        "html": rng.choice([None, random_text(rng, _BODY_ALPHABET, _BODY_WORDS, 3000)]),
        "message_id": f"<ack-{seed}@example.com>",
        "in_reply_to": rng.choice([None, "<parent@mail.example.com>"]),
        "references": [f"<r{n}.{seed}@example.org>" for n in range(rng.randrange(30))],
        "attachments": [
            (random_text(rng, _HEADER_ALPHABET, [], 80), "application/pdf", rng.randbytes(300))
            for _ in range(rng.randrange(3))
        ],
    }
    check_round_trip(arguments)


def test_quoted_printable_keeps_dots_and_from_lines_harmless() -> None:
    data = build(text="Grüße\n.\nFrom here\n", html=None)
    assert b"\r\n=2E\r\n" in data
    assert b"\r\n=46rom here\r\n" in data
    assert parse(data).get_content().replace("\r\n", "\n") == "Grüße\n.\nFrom here\n"


def test_plain_ascii_stays_readable_7bit() -> None:
    data = build(text="Hello Dave,\n.\nFrom us\n", html=None)
    mail = parse(data)
    assert mail["Content-Transfer-Encoding"] == "7bit"
    assert mail.get_content_charset() == "us-ascii"
    assert data.endswith(b"\r\n\r\nHello Dave,\r\n.\r\nFrom us\r\n")


def test_references_fold_at_spaces_within_78_characters() -> None:
    history = [f"<message-{n}-in-a-long-thread@mail.example.org>" for n in range(30)]
    data = build(references=history)
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    start = head.index("References:")
    block = head[start:].split("\r\nAuto-Submitted:", 1)[0].split("\r\n")
    assert len(block) > 5
    assert all(len(line) <= 78 for line in block)
    assert all(line.startswith(" <") for line in block[1:])


def test_a_word_too_long_for_a_line_is_encoded_not_left_over_998() -> None:
    data = build(subject="z" * 1500, extra_headers={"X-Aliasdesk-Loop": "w" * 1500})
    assert max(len(line) for line in lines_of(data)) <= 998
    mail = parse(data)
    assert mail["Subject"] == "z" * 1500
    assert mail["X-Aliasdesk-Loop"] == "w" * 1500


def test_a_name_too_long_for_a_line_is_split_into_encoded_words() -> None:
    data = build(from_name="Ö" * 300 + "y" * 1200)
    assert max(len(line) for line in lines_of(data)) <= 998
    raw = data.split(b"\r\nTo:", 1)[0].removeprefix(b"From: ")
    # RFC 2047 §6.2: the space between adjacent encoded words is not part of the text.
    phrase = raw.decode("ascii").replace("\r\n", "").rsplit(" <", 1)[0]
    assert str(make_header(decode_header(phrase))) == "Ö" * 300 + "y" * 1200


def test_a_thread_id_too_long_for_a_line_is_dropped() -> None:
    huge = "<" + "x" * 1200 + "@example.com>"
    mail = parse(build(in_reply_to=huge, references=[huge, "<ok@example.com>"]))
    assert "In-Reply-To" not in mail
    assert mail["References"] == "<ok@example.com>"


def test_an_address_longer_than_smtp_allows_is_refused() -> None:
    with pytest.raises(ComposeError) as caught:
        build(to=["a" * 250 + "@example.com"])
    assert caught.value.field == "to"


def test_boundaries_are_unique_per_mail() -> None:
    boundaries: set[str | None] = set()
    for _ in range(50):
        mail = parse(build(attachments=[("a.txt", "text/plain", b"x")]))
        boundaries.update(part.get_boundary() for part in mail.walk() if part.is_multipart())
    assert len(boundaries) == 100


def test_7bit_only_while_every_line_fits_900_characters() -> None:
    fits = parse(build(text="a" * 900, html=None))
    too_long = parse(build(text="a" * 901, html=None))
    assert fits["Content-Transfer-Encoding"] == "7bit"
    assert too_long["Content-Transfer-Encoding"] == "quoted-printable"
    assert too_long.get_content().rstrip("\r\n") == "a" * 901


@pytest.mark.parametrize(
    ("raw", "flat"),
    [("plain", "plain"), (" a  b ", "a b"), ("a\u00a0b", "a b"), ("a\u3000b", "a b"),
     ("a\tb", "a b"), ("a\x00\x7fb", "ab"), ("a\x1cb", "a b"), ("", ""), ("<id@x>", "<id@x>")],
)  # fmt: skip
def test_one_line_flattens_every_kind_of_space_and_break(raw: str, flat: str) -> None:
    assert one_line(raw) == flat


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def test_inline_images_go_with_the_html_and_the_text_stays_whole() -> None:
    image = ("chart@report.aliasdesk", "chart.png", "image/png", PNG)
    mail = parse(build(html='<img src="cid:chart@report.aliasdesk">', inline_images=[image]))
    plain, related = mail.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    assert related.get_param("type") == "text/html"
    html, picture = related.iter_parts()
    assert html.get_content_type() == "text/html"
    assert picture["Content-ID"] == "<chart@report.aliasdesk>"
    assert picture.get_content_disposition() == "inline"
    assert picture.get_filename() == "chart.png" and picture.get_content() == PNG
    with_files = parse(build(inline_images=[image], attachments=[("a.txt", "text/plain", b"x")]))
    assert [p.get_content_type() for p in with_files.iter_parts()] == [
        "multipart/alternative",
        "text/plain",
    ]


@pytest.mark.parametrize(
    "image",
    [
        ("chart@report>\r\nBcc: x@evil.example", "chart.png", "image/png", PNG),
        ("chart@report.aliasdesk", '../chart"\r\n.png', "image/png", PNG),
        ("chart@report.aliasdesk", "chart.html", "text/html", b"<script>"),
    ],
)
def test_inline_images_are_refused_unless_plain(image: tuple[str, str, str, bytes]) -> None:
    with pytest.raises(ComposeError, match="inline_images"):
        build(inline_images=[image])
