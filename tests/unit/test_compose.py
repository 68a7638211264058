"""Outgoing mail: headers, threading, structure, and no header injection from mail input."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from aliasdesk.mail.compose import (
    MAX_REFERENCES,
    ComposeError,
    bounded_references,
    compose,
    make_message_id,
    normalise_message_id,
)

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
    assert attachment.get_filename() == ".._.._etc_pass wd"
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
    assert "Grüße" in html.get_content()


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
