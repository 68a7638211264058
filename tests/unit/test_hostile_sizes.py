"""The pure pieces of taking in large mail: the size limit's setting, batches cut by bytes,
a held mail's header, and the parser's copy-free paths giving the stdlib's results."""

from __future__ import annotations

import base64
import email
from email import policy
from email.message import Message

import pytest

from aliasdesk.mail.mime_tree import LARGE_PART, decoded_payload, message_from_bytes
from aliasdesk.mail.parse import HTML_TEXT_LIMIT, parse_mail
from aliasdesk.services.intake_store import cut_batches, header_of
from aliasdesk.settings.env import load_settings
from aliasdesk.settings.errors import SettingsError


def test_the_size_limit_defaults_to_50_mib() -> None:
    assert load_settings(environ={}, env_file=None).max_mail_bytes == 52_428_800
    custom = load_settings(environ={"ALIASDESK_MAX_MAIL_BYTES": "10_000_000"}, env_file=None)
    assert custom.max_mail_bytes == 10_000_000


@pytest.mark.parametrize(
    ("value", "message"),
    [("lots", "must be a whole number"), ("1000", "must be between 65536 and"), ("-5", "")],
)
def test_a_bad_size_limit_stops_start_up_naming_the_variable(value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"ALIASDESK_MAX_MAIL_BYTES": value}, env_file=None)
    [line] = caught.value.describe()
    assert "ALIASDESK_MAX_MAIL_BYTES" in line and message in line


def _cut(sizes: list[int], count: int, budget: int) -> list[list[int]]:
    return [sizes[cut] for cut in cut_batches(sizes, count=count, budget=budget)]


def test_batches_are_cut_by_count_and_by_bytes() -> None:
    assert _cut([], 3, 100) == []
    assert _cut([10] * 7, 3, 100) == [[10] * 3, [10] * 3, [10]]
    assert _cut([40, 40, 40, 10, 10], 10, 100) == [[40, 40], [40, 10, 10]]
    assert _cut([100, 1, 100], 10, 100) == [[100], [1], [100]]


def test_a_mail_larger_than_the_budget_is_a_batch_of_its_own() -> None:
    assert _cut([5, 500, 5, 5], 10, 100) == [[5], [500], [5, 5]]


def test_a_held_mail_keeps_its_header_and_at_most_the_limit() -> None:
    assert header_of(b"From: a@example.com\r\nSubject: x\r\n\r\nbody") == (
        b"From: a@example.com\r\nSubject: x\r\n"
    )
    assert header_of(b"From: a@example.com\n\nbody\n\nmore") == b"From: a@example.com\n\n"
    assert header_of(b"X-Junk: " + b"y" * 10_000, limit=100) == b"X-Junk: " + b"y" * 92


def _with_attachment(encoded: bytes) -> bytes:
    return (
        b"From: dave@example.com\r\nTo: hr@example.com\r\nSubject: Scans\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n'
        b"\r\nSee the scan.\r\n--B\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="scan.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--B--\r\n"
    )


def _last_part(message: Message) -> Message:
    parts = message.get_payload()
    assert isinstance(parts, list) and isinstance(parts[-1], Message)
    return parts[-1]


@pytest.mark.parametrize(
    "damage",
    [b"", b"!!not base64!!\r\n", b"QQ\r\n"],
    ids=["clean", "stray-characters", "short-padding"],
)
def test_a_large_part_is_decoded_as_the_stdlib_decodes_it(damage: bytes) -> None:
    data = bytes(range(256)) * (LARGE_PART // 128)
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n") + damage
    raw = _with_attachment(encoded)
    ours = message_from_bytes(raw)
    theirs = email.message_from_bytes(raw, policy=policy.compat32)
    assert ours.as_bytes() == theirs.as_bytes()
    ours_part, theirs_part = _last_part(ours), _last_part(theirs)
    assert decoded_payload(ours_part) == theirs_part.get_payload(decode=True)
    if not damage:
        [scan] = parse_mail(raw).attachments
        assert scan.data == data and scan.filename == "scan.pdf"


def test_only_the_start_of_a_huge_html_body_becomes_ticket_text() -> None:
    paragraph = "<p>The printer on the third floor is broken again.</p>\n"
    html = paragraph * (HTML_TEXT_LIMIT // len(paragraph) + 1000)
    raw = (
        "From: dave@example.com\r\nTo: it@example.com\r\nSubject: Printer\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html
    ).encode()
    parsed = parse_mail(raw)
    assert f"html-cut:{len(html)}" in parsed.defects
    assert parsed.text.startswith("The printer on the third floor is broken again.")
    assert len(parsed.text) < HTML_TEXT_LIMIT
    small = parse_mail(raw[: raw.index(b"<p>") + len(paragraph) * 3])
    assert small.text.count("broken again") == 3
    assert not any(defect.startswith("html-cut") for defect in small.defects)
