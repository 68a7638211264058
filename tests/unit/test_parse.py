"""parse_mail: decoding, attachments, and the promise never to raise on hostile input."""

from __future__ import annotations

import base64
import time

import pytest

from aliasdesk.mail.addresses import (
    decode_header_value,
    domain_of,
    is_noreply,
    normalise_address,
    parse_message_id,
)
from aliasdesk.mail.html_text import html_to_text
from aliasdesk.mail.model import ParsedMail
from aliasdesk.mail.parse import parse_mail, safe_filename


def mail(headers: str, body: str = "hello\n") -> bytes:
    return (headers.strip("\n") + "\n\n" + body).encode("utf-8", "surrogateescape")


SIMPLE = mail(
    """
From: "Dave Example" <Dave@Example.COM>
To: hr@example.com, "Bob" <bob@example.com>
Cc: it@example.com
Subject: Holiday request
Message-ID:  <abc.123@example.com>
In-Reply-To: <x1@example.com>
References: <x0@example.com>
 <x1@example.com>
Date: Mon, 1 Jan 2024 10:00:00 +0000
"""
)


def test_simple_fields() -> None:
    parsed = parse_mail(SIMPLE)
    assert parsed.from_ is not None
    assert parsed.from_.address == "dave@example.com"
    assert parsed.from_.name == "Dave Example"
    assert [a.address for a in parsed.to] == ["hr@example.com", "bob@example.com"]
    assert [a.address for a in parsed.recipients()] == [
        "hr@example.com",
        "bob@example.com",
        "it@example.com",
    ]
    assert parsed.subject == "Holiday request"
    assert parsed.message_id == "<abc.123@example.com>"
    assert parsed.in_reply_to == ("<x1@example.com>",)
    assert parsed.references == ("<x0@example.com>", "<x1@example.com>")
    assert parsed.text == "hello\n"
    assert parsed.html is None
    assert parsed.size == len(SIMPLE)
    assert parsed.defects == ()
    assert parsed.header("references") == "<x0@example.com> <x1@example.com>"


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("=?utf-8?Q?=C4=8Cesk=C3=BD_test?=", "Český test"),
        ("=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=", "If you can read this yo"),
        ("=?utf-8?B?w6k=?= =?utf-8?B?w6k=?=", "éé"),  # RFC 2047 §6.2: space between words dropped
        ("=?utf-8?B?4oKs?=", "€"),
        ("=?utf-8?Q?=E2=82?= =?utf-8?Q?=AC?=", "€"),  # a character split across two words
        ("Re: =?koi8-r?B?8NLJ18XU?= world", "Re: Привет world"),
        ("=?iso-2022-jp?B?GyRCJEskYyRzJDMbKEI=?=", "にゃんこ"),
        ("=?utf-8*en?Q?hello?=", "hello"),  # RFC 2231 §5 language suffix
        ("plain  text\n\tfolded", "plain text folded"),
    ],
)
def test_rfc2047_subjects(encoded: str, decoded: str) -> None:
    parsed = parse_mail(mail(f"From: a@example.com\nSubject: {encoded}"))
    assert parsed.subject == decoded


def test_encoded_display_name_with_comma_stays_one_address() -> None:
    parsed = parse_mail(mail('From: "=?utf-8?Q?Doe=2C_J=C3=BCrgen?=" <J@X.example>'))
    assert parsed.from_ is not None
    assert parsed.from_.name == "Doe, Jürgen"
    assert parsed.from_.address == "j@x.example"


def test_unknown_charset_falls_back_with_defect() -> None:
    raw = mail(
        "From: a@example.com\nSubject: =?x-unknown?Q?caf=C3=A9?=\n"
        'Content-Type: text/plain; charset="x-unknown"\nContent-Transfer-Encoding: 8bit',
        "caf\u00e9 au lait\n",
    )
    parsed = parse_mail(raw)
    assert parsed.subject == "café"
    assert parsed.text == "café au lait\n"
    assert "unknown-charset:x-unknown" in parsed.defects


def test_odd_charsets() -> None:
    body = "Grüße".encode("cp1252")
    raw = b"From: a@example.com\nContent-Type: text/plain; charset=windows-1252\n\n" + body
    assert parse_mail(raw).text == "Grüße"
    raw16 = b"From: a@x\nContent-Type: text/plain; charset=utf-16le\n\n" + "hi ü".encode("utf-16le")
    assert parse_mail(raw16).text == "hi ü"
    gb = b"From: a@x\nContent-Type: text/plain; charset=iso-gb2312\n\n" + "中文".encode("gb2312")
    assert parse_mail(gb).text == "中文"
    # A codec that is not a text encoding is refused, not applied.
    z = b"From: a@x\nContent-Type: text/plain; charset=zlib\n\nplain"
    parsed = parse_mail(z)
    assert parsed.text == "plain"
    assert "unknown-charset:zlib" in parsed.defects


def test_raw_8bit_header_is_decoded_and_flagged() -> None:
    raw = "From: Jürgen <j@x.example>\nSubject: Grüße\n\nx".encode()
    parsed = parse_mail(raw)
    assert parsed.subject == "Grüße"
    assert parsed.from_ is not None and parsed.from_.name == "Jürgen"
    assert "header-8bit:subject" in parsed.defects


def test_html_only_gives_readable_text() -> None:
    html = (
        "<html><head><style>p{color:red}</style><title>T</title></head><body>"
        "<p>Hello&nbsp;<b>team</b> &amp; friends</p><ul><li>one</li><li>two</li></ul>"
        '<p>See <a href="https://example.com/x">the page</a><br>bye</p>'
        "<script>alert(1)</script></body></html>"
    )
    raw = mail("From: a@x.example\nContent-Type: text/html; charset=utf-8", html)
    parsed = parse_mail(raw)
    assert parsed.html == html
    assert parsed.text == (
        "Hello team & friends\n\n- one\n- two\n\nSee the page (https://example.com/x)\nbye"
    )


def test_html_to_text_edge_cases() -> None:
    assert html_to_text("") == ""
    assert html_to_text("<p>unclosed <a href='mailto:x@y'>x@y") == "unclosed x@y"
    assert html_to_text("<div>a</div><div>b</div>") == "a\nb"
    assert html_to_text("<<<>>>&#xZZ;</") is not None


def multipart(*parts: str, boundary: str = "BOUND") -> bytes:
    head = f'From: a@x.example\nSubject: att\nContent-Type: multipart/mixed; boundary="{boundary}"'
    body = "".join(f"--{boundary}\n{p}\n" for p in parts) + f"--{boundary}--\n"
    return mail(head, body)


OCTET = "Content-Type: application/octet-stream\nContent-Disposition: attachment; "


def test_attachments_rfc2231_and_traversal_names() -> None:
    raw = multipart(
        "Content-Type: text/plain; charset=utf-8\n\nthe body",
        "Content-Type: application/pdf\nContent-Disposition: attachment;\n"
        " filename*=utf-8''Erkl%C3%A4rung%20%E2%82%AC.pdf\nContent-Transfer-Encoding: base64\n\n"
        + base64.b64encode(b"%PDF-1.4 data").decode(),
        'Content-Type: text/plain; name="=?utf-8?Q?Gr=C3=BC=C3=9Fe=2Etxt?="\n'
        "Content-Disposition: attachment\n\nfile text",
        OCTET + 'filename="../../etc/passwd"\n\nx',
        OCTET + 'filename="..\\\\..\\\\boot.ini"\n\nx',
        OCTET + 'filename="a\x01b\u202egpj.exe"\n\nx',
        OCTET + 'filename="../"\n\nx',
        "Content-Type: image/png\nContent-ID: <img1@x>\nContent-Transfer-Encoding: base64\n\n"
        + base64.b64encode(b"\x89PNG....").decode(),
    )
    parsed = parse_mail(raw)
    assert parsed.text == "the body"
    names = [a.filename for a in parsed.attachments]
    assert names == [
        "Erklärung €.pdf",
        "Grüße.txt",
        "passwd",
        "boot.ini",
        "a bgpj.exe",
        "attachment.bin",
        "attachment.png",
    ]
    pdf = parsed.attachments[0]
    assert pdf.data == b"%PDF-1.4 data" and pdf.size == len(b"%PDF-1.4 data")
    assert pdf.content_type == "application/pdf" and not pdf.inline
    image = parsed.attachments[-1]
    assert image.inline and image.content_id == "img1@x" and image.data == b"\x89PNG...."


def test_safe_filename() -> None:
    assert safe_filename("C:\\Users\\x\\report.docx") == "report.docx"
    assert safe_filename("...") == "attachment.bin"
    assert safe_filename("", "application/pdf") == "attachment.pdf"
    assert safe_filename(".bashrc") == "bashrc"
    assert len(safe_filename("a" * 500 + ".pdf")) <= 200
    assert safe_filename("a" * 500 + ".pdf").endswith(".pdf")


def test_attachment_above_limit_is_kept_as_dropped() -> None:
    payload = b"x" * 5000
    raw = multipart(
        "Content-Type: text/plain\n\nbody",
        'Content-Type: application/zip\nContent-Disposition: attachment; filename="big.zip"\n'
        "Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(payload).decode(),
    )
    parsed = parse_mail(raw, max_attachment_bytes=1000)
    (att,) = parsed.attachments
    assert att.filename == "big.zip" and att.size == 5000 and att.data is None and att.dropped
    assert "attachment-dropped:big.zip:5000" in parsed.defects


@pytest.mark.parametrize(
    "subject",
    [
        "=?utf-8?Q?hi=0D=0ABcc:_victim@evil.example?=",
        "=?utf-8?B?aGkNCkJjYzogdmljdGltQGV2aWwuZXhhbXBsZQ==?=",
        "=?utf-8?Q?a=0Ab=0Dc=E2=80=A8d=C2=85e=00f?=",
    ],
)
def test_header_injection_in_encoded_subject_is_neutralised(subject: str) -> None:
    parsed = parse_mail(
        mail(f'From: "=?utf-8?Q?x=0D=0ATo:_y@z?=" <a@x.example>\nSubject: {subject}')
    )
    for value in [parsed.subject, parsed.from_.name if parsed.from_ else ""] + [
        v for _, v in parsed.headers
    ]:
        assert "\r" not in value and "\n" not in value
        assert len(value.splitlines()) <= 1
    assert [a.address for a in parsed.recipients()] == []


def test_zero_bytes() -> None:
    parsed = parse_mail(b"")
    assert isinstance(parsed, ParsedMail)
    assert parsed.is_empty and parsed.size == 0


def test_truncated_mail() -> None:
    full = multipart("Content-Type: text/plain\n\nbody text", "Content-Type: text/plain\n\nmore")
    parsed = parse_mail(full[: len(full) - 20])
    assert "truncated" in parsed.defects
    assert parsed.text.startswith("body text")
    cut_in_headers = parse_mail(b"From: a@x.example\nSubject: half a subj")
    assert "truncated" in cut_in_headers.defects
    assert cut_in_headers.subject == "half a subj"


def test_binary_garbage() -> None:
    import random

    rnd = random.Random(7)
    for _ in range(20):
        blob = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 4000)))
        parsed = parse_mail(blob)
        assert parsed.size == len(blob)
    parsed = parse_mail(b"\x00\xff\xfe" * 100)
    assert parsed.is_empty and "no-headers" in parsed.defects


def test_200kb_header() -> None:
    big_to = ", ".join(f"user{i}@example.com" for i in range(10000))
    raw = mail(f"From: a@x.example\nTo: {big_to}\nX-Long: {'y' * 200_000}\nSubject: big")
    started = time.perf_counter()
    parsed = parse_mail(raw)
    assert time.perf_counter() - started < 2
    assert len(parsed.to) == 10000
    assert parsed.subject == "big"
    assert len(parsed.header("x-long") or "") == 200_000


def test_30mb_mail_is_parsed_and_attachment_dropped() -> None:
    blob = b"\x00\x01binary" * (30 * 1024 * 1024 // 8)
    raw = multipart(
        "Content-Type: text/plain\n\nsee attached",
        OCTET + 'filename="d.bin"\n'
        "Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(blob).decode("ascii"),
    )
    assert len(raw) > 30 * 1024 * 1024
    parsed = parse_mail(raw)
    (att,) = parsed.attachments
    assert att.size == len(blob) and att.data is None
    assert parsed.text == "see attached"
    assert parsed.size == len(raw)


def test_missing_from_and_from_without_address() -> None:
    assert "no-from" in parse_mail(mail("To: hr@example.com\nSubject: x")).defects
    parsed = parse_mail(mail("From: Undisclosed recipients:;\nSubject: x"))
    assert parsed.from_ is None
    assert "from-no-address" in parsed.defects
    daemon = parse_mail(mail("From: MAILER-DAEMON <>\nSubject: x"))
    assert daemon.from_ is None and daemon.header("from") == "MAILER-DAEMON <>"


def test_nested_message_rfc822_ten_levels() -> None:
    inner = mail("From: deep@x.example\nSubject: level 0", "deepest text\n")
    for level in range(1, 11):
        inner = mail(
            f"From: l{level}@x.example\nSubject: level {level}\nMessage-ID: <l{level}@x>\n"
            "Content-Type: message/rfc822",
            inner.decode(),
        )
    parsed = parse_mail(inner)
    assert parsed.subject == "level 10"
    assert parsed.text == "deepest text\n"  # only embedded text exists, so it is used
    assert "<l9@x>" in parsed.extra["embedded-message-ids"]


def test_nesting_beyond_bound_is_cut_not_crashed() -> None:
    inner = mail("From: deep@x.example", "deep")
    for _ in range(60):
        inner = mail("From: a@x.example\nContent-Type: message/rfc822", inner.decode())
    parsed = parse_mail(inner)
    assert "nesting-too-deep" in parsed.defects


def test_every_header_malformed() -> None:
    raw = (
        b"From: <<<@@@>>>, ,\nTo: ,,,;;;\nCc: a@b.example,\nSubject: =?utf-8?X?broken?= =?\n"
        b"Message-ID: no brackets here\nIn-Reply-To: <unterminated\nReferences: >< <>\n"
        b"Date: Whenever\nContent-Type: multipart/mixed; boundary=\nContent-Disposition: ;;;\n"
        b"Content-Transfer-Encoding: 9bit\n : no name\nMIME-Version: 99\n\nbody"
    )
    parsed = parse_mail(raw)
    assert isinstance(parsed, ParsedMail)
    assert parsed.message_id is None
    assert parsed.in_reply_to == ()
    assert parsed.date == "Whenever"
    assert [a.address for a in parsed.cc] == ["a@b.example"]


def test_bare_cr_and_mbox_envelope() -> None:
    raw = b"From: a@x.example\rSubject: mac\r\rline1\rline2\r"
    parsed = parse_mail(raw)
    assert parsed.subject == "mac" and parsed.text == "line1\nline2\n"
    boxed = b"From someone@x Mon Jan 1 00:00:00 2024\n" + SIMPLE
    assert parse_mail(boxed).subject == "Holiday request"


def test_empty_text_part_falls_back_to_html() -> None:
    raw = mail(
        'From: a@x.example\nContent-Type: multipart/alternative; boundary="b"',
        "--b\nContent-Type: text/plain\n\n\n--b\nContent-Type: text/html\n\n<p>Hi</p>\n--b--\n",
    )
    assert parse_mail(raw).text == "Hi"


def test_address_helpers() -> None:
    assert normalise_address("  <Bob@Example.COM> ") == "bob@example.com"
    assert domain_of("Bob@Example.COM") == "example.com"
    assert domain_of("nobody") == ""
    for address in (
        "noreply@x.example",
        "no-reply@x.example",
        "do-not-reply@x.example",
        "DoNotReply@x.example",
        "no_reply@x.example",
        "mailer-daemon@x.example",
        "postmaster@x.example",
        "noreply+alerts@x.example",
    ):
        assert is_noreply(address), address
    for address in ("reply@x.example", "nora@x.example", "alice@noreply.example"):
        assert not is_noreply(address), address
    assert parse_message_id(" < a b@c > ") == "<ab@c>"
    assert parse_message_id("bare@id.example") == "<bare@id.example>"
    assert parse_message_id("") is None
    defects: list[str] = []
    assert decode_header_value("=?bogus-cs?Q?x?=", defects) == "x"
    assert defects == ["unknown-charset:bogus-cs"]


def _raw_name_mail(name: bytes, *, root_charset: str = "", text_charset: str = "") -> bytes:
    """A mail whose attachment name is written in raw 8-bit, charsets declared elsewhere."""
    root = f'; charset="{root_charset}"' if root_charset else ""
    text = f"; charset={text_charset}" if text_charset else ""
    return (
        b"From: a@example.com\nTo: hr@example.com\nSubject: files\nMIME-Version: 1.0\n"
        + f'Content-Type: multipart/mixed; boundary="b"{root}\n\n'.encode()
        + f"--b\nContent-Type: text/plain{text}\n\nsee the file\n".encode()
        + b"--b\nContent-Type: application/octet-stream\n"
        + b'Content-Disposition: attachment;\n filename="'
        + name
        + b'"\n\ndata\n--b--\n'
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # charset only on the multipart root, as one Chinese mail client writes it
        (_raw_name_mail("绩效管理.xls".encode("gb2312"), root_charset="GB2312"), "绩效管理.xls"),
        # charset only on the text part
        (_raw_name_mail("сводка.pdf".encode("koi8-r"), text_charset="koi8-r"), "сводка.pdf"),
        # UTF-8 is tried first, whatever the message declares
        (_raw_name_mail("Übersicht.pdf".encode(), root_charset="GB2312"), "Übersicht.pdf"),
        # nothing declared anywhere: Windows-1252, the most common undeclared 8-bit
        (_raw_name_mail("Résumé.doc".encode("cp1252")), "Résumé.doc"),
    ],
)
def test_raw_8bit_file_names_are_read_in_the_messages_charset(raw: bytes, expected: str) -> None:
    parsed = parse_mail(raw)
    assert [a.filename for a in parsed.attachments] == [expected]
    assert parsed.text == "see the file"
