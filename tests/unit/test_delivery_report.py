"""Reading delivery reports: per-recipient action, status and diagnostic, and the Message-ID
of the mail they return, in the standard shape and the plain-text shapes of real MTAs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aliasdesk.mail.delivery_report import read_delivery_report
from aliasdesk.mail.parse import parse_mail
from aliasdesk.notify.render import TemplateRenderer, sample_context
from tests.support.corpus import CORPUS, require_corpus
from tests.support.dsn import delivery_status_report

require_corpus()
TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "email"

TWO_RECIPIENTS = b"""\
From: MAILER-DAEMON@mx.example.net
To: hr@example.com
Subject: Delivery Status Notification
Message-ID: <report-1@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Some of your mail could not be delivered yet.

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; Expanded@Example.NET
Original-Recipient: rfc822; list@example.net
Action: failed
Status: 5.2.2
Diagnostic-Code: smtp; 552 5.2.2 mailbox full,
  try again next week

Final-Recipient: rfc822; slow@example.org
Action: delayed
Status: 4.4.1
Diagnostic-Code: smtp; 421 4.4.1 connection timed out

--b
Content-Type: message/rfc822

From: hr@example.com
Subject: [HR-7] Laptop
Message-ID: <HR-7.acknowledgement.0a1b2c@example.com>

Hello.
--b--
"""


def test_each_recipient_block_is_read() -> None:
    report = read_delivery_report(parse_mail(TWO_RECIPIENTS))
    assert report.shape == "delivery-status"
    full, slow = report.recipients
    assert (full.recipient, full.original, full.action, full.status) == (
        "expanded@example.net",
        "list@example.net",
        "failed",
        "5.2.2",
    )
    assert full.diagnostic == "552 5.2.2 mailbox full, try again next week"
    assert (slow.action, slow.status) == ("delayed", "4.4.1")
    assert report.about("list@example.net") is full
    assert report.about("nobody@example.net") is None
    assert report.original_message_ids == ("<HR-7.acknowledgement.0a1b2c@example.com>",)
    assert report.subjects[0] == "Delivery Status Notification"


def test_the_returned_headers_part_names_the_original() -> None:
    raw = delivery_status_report("<HR-1.status_update.ff00@example.com>", "dave@partner.example")
    report = read_delivery_report(parse_mail(raw))
    assert report.original_message_ids == ("<HR-1.status_update.ff00@example.com>",)
    [status] = report.recipients
    assert status.summary.startswith("failed 5.1.1 550 5.1.1 <dave@partner.example>")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "sisimai/bsd/lhost-exim-02.eml",
            [
                ("kijitora@example.jp", "failed", "5.1.1"),
                ("sabatora@example.jp", "failed", "5.2.1"),
            ],
        ),
        ("sisimai/bsd/lhost-qmail-01.eml", [("kijitora@example.ne.jp", "failed", "5.5.0")]),
        ("sisimai/bsd/lhost-gmail-01.eml", [("userunknown@example.jp", "failed", "5.1.1")]),
        (
            "sisimai/bsd/lhost-zoho-02.eml",
            [
                ("mikeneko@example.co.jp", "failed", "5.2.1"),
                ("sabineko@example.co.jp", "failed", "5.2.2"),
            ],
        ),
        ("sisimai/bsd/lhost-x2-05.eml", [("kijitora@y.example.com", "delayed", "4.1.9")]),
    ],
)
def test_plain_text_bounces_name_their_recipients(
    path: str, expected: list[tuple[str, str, str]]
) -> None:
    report = read_delivery_report(parse_mail((CORPUS / path).read_bytes()))
    assert report.shape == "text"
    assert [(s.recipient, s.action, s.status) for s in report.recipients] == expected
    assert all(s.diagnostic for s in report.recipients)


def test_the_reports_own_message_id_is_not_the_original() -> None:
    raw = b"From: MAILER-DAEMON@x.example\r\nMessage-ID: <self@x.example>\r\n\r\n" + (
        b"Message-ID: <self@x.example>\r\nMessage-ID: <sent@example.com>\r\n"
    )
    report = read_delivery_report(parse_mail(raw))
    assert report.original_message_ids == ("<sent@example.com>",)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"Content-Type: multipart/report; report-type=delivery-status\r\n\r\n",
        b"Subject: x\r\n\r\n" + b"Final-Recipient: ;;;\r\nAction: \xff\xfe\r\n" * 1000,
        b"Subject: x\r\n\r\n" + (b"a@b.cc " * 200_000),
        # runs that cost quadratic time in a careless pattern: blank lines before a
        # Message-ID line, a line of spaces or dashes before a separator, huge addresses
        b"Subject: x\r\n\r\n" + b"\n" * 60_000,
        b"Subject: x\r\n\r\n" + b" " * 60_000 + b"\n" + b"-" * 60_000,
        b"X-Failed-Recipients: " + b"a" * 30_000 + b"@" + b"b" * 30_000 + b"\r\n\r\nx",
        b"Subject: x\r\n\r\n" + b"a" * 20_000 + b"@b" + b".b-" * 10_000,
    ],
)
def test_hostile_reports_read_without_error_and_quickly(raw: bytes) -> None:
    started = time.monotonic()
    report = read_delivery_report(parse_mail(raw))
    assert len(report.recipients) <= 50
    assert time.monotonic() - started < 5


def test_the_owners_notice_says_who_cannot_be_reached() -> None:
    renderer = TemplateRenderer(TEMPLATES)
    mail = renderer.render("requester_unreachable", sample_context("requester_unreachable"))
    assert mail.subject == "[HR-42] Parental leave from June"
    for part in (mail.text, mail.html):
        assert "dave@example.com" in part and "5.1.1" in part
        assert "Recipient address rejected" in part and "the acknowledgement" in part
