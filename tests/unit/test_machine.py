"""machine_verdict: one test per rule, plus the human mail that must stay human."""

from __future__ import annotations

from typing import Any

import pytest

from aliasdesk.mail.machine import KINDS, MachineVerdict, machine_verdict, mail_signals
from aliasdesk.mail.model import ParsedMail
from aliasdesk.mail.parse import parse_mail

HUMAN_HEAD = "From: Dave <dave@example.com>\nTo: hr@example.com\nMessage-ID: <m1@example.com>\n"


def verdict(headers: str, body: str = "Hello, I need help.\n", **kwargs: Any) -> MachineVerdict:
    raw = (HUMAN_HEAD + headers.strip("\n") + "\n\n" + body).encode()
    return machine_verdict(parse_mail(raw), **kwargs)


def report(report_type: str, inner_type: str, fields: str) -> tuple[str, str]:
    return (
        f'Content-Type: multipart/report; report-type={report_type}; boundary="R"',
        f"--R\nContent-Type: text/plain\n\nReport.\n--R\nContent-Type: {inner_type}\n\n"
        f"{fields}\n--R\nContent-Type: text/rfc822-headers\n\n"
        "From: hr@example.com\nMessage-ID: <orig-1@aliasdesk.example>\n\n--R--\n",
    )


def test_plain_mail_is_human() -> None:
    v = verdict("Subject: Holiday request")
    assert v.kind is None and not v.is_machine


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("auto-replied", "auto-reply"),
        ("auto-generated", "auto-generated"),
        ("auto-notified", "auto-generated"),
    ],
)
def test_auto_submitted(value: str, kind: str) -> None:
    assert verdict(f"Subject: x\nAuto-Submitted: {value}; owner-email=x").kind == kind


def test_auto_submitted_no_is_human() -> None:
    assert verdict("Subject: x\nAuto-Submitted: no").kind is None


@pytest.mark.parametrize(
    ("value", "kind"),
    [("bulk", "bulk"), ("junk", "bulk"), ("list", "list"), ("auto_reply", "auto-reply")],
)
def test_precedence(value: str, kind: str) -> None:
    assert verdict(f"Subject: x\nPrecedence: {value}").kind == kind


def test_precedence_other_is_human() -> None:
    assert verdict("Subject: x\nPrecedence: first-class").kind is None


@pytest.mark.parametrize("name", ["X-Autoreply", "X-Autorespond", "X-Auto-Reply"])
def test_autoreply_headers(name: str) -> None:
    assert verdict(f"Subject: x\n{name}: yes").kind == "auto-reply"


def test_list_headers() -> None:
    assert verdict("Subject: x\nList-Id: <staff.example.com>").kind == "list"
    assert verdict("Subject: x\nList-Unsubscribe: <mailto:u@x>").kind == "bulk"


def test_x_auto_response_suppress_alone_is_human() -> None:
    assert verdict("Subject: Meeting\nX-Auto-Response-Suppress: All").kind is None


def test_x_auto_response_suppress_with_autoreply_subject() -> None:
    v = verdict("Subject: Automatic reply: Holiday\nX-Auto-Response-Suppress: All")
    assert v.kind == "auto-reply"


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Re: [HR-1] x",
        "Abwesenheitsnotiz: Urlaub",
        "Réponse automatique : x",
        "Autosvar: x",
    ],
)
def test_autoreply_subjects_need_a_second_signal(subject: str) -> None:
    assert verdict(f"Subject: {subject}").kind is None
    assert verdict(f"Subject: {subject}\nIn-Reply-To: <a@aliasdesk>").kind == "auto-reply"


def test_multipart_report_delivery_status_bounce_with_ids() -> None:
    head, body = report(
        "delivery-status",
        "message/delivery-status",
        "Reporting-MTA: dns; mx.example.com\n\n"
        "Final-Recipient: rfc822; x@y\nAction: failed\nStatus: 5.1.1",
    )
    v = verdict(head, body)
    assert v.kind == "bounce"
    assert v.bounced_message_ids == ("<orig-1@aliasdesk.example>",)


def test_success_and_delay_dsn_are_delivery_reports() -> None:
    for action in ("delivered", "delayed"):
        head, body = report(
            "delivery-status",
            "message/delivery-status",
            "Reporting-MTA: dns; mx\n\n"
            f"Final-Recipient: rfc822; x@y\nAction: {action}\nStatus: 2.0.0",
        )
        v = verdict(head, body)
        assert v.kind == "delivery-report"
        assert v.bounced_message_ids == ("<orig-1@aliasdesk.example>",)


def test_read_receipt_and_abuse_report() -> None:
    head, body = report(
        "disposition-notification",
        "message/disposition-notification",
        "Disposition: manual-action/MDN-sent-manually; displayed",
    )
    assert verdict(head, body).kind == "read-receipt"
    head, body = report(
        "feedback-report", "message/feedback-report", "Feedback-Type: abuse\nVersion: 1"
    )
    assert verdict(head, body).kind == "abuse-report"


def test_mailer_daemon_sender_is_bounce() -> None:
    raw = b"From: MAILER-DAEMON <>\nSubject: whatever\n\nbody\n"
    assert machine_verdict(parse_mail(raw)).kind == "bounce"
    raw = b"From: postmaster@mx.example.com\nSubject: whatever\n\nbody\n"
    assert machine_verdict(parse_mail(raw)).kind == "bounce"


def test_plain_text_bounce_with_null_return_path_and_ids_from_body() -> None:
    body = (
        "This is the mail system at host mx.example.com.\n\n"
        "I'm sorry to have to inform you that your message could not be delivered.\n\n"
        "<x@y>: host said: 550 5.1.1 user unknown\n\n"
        "--- original headers ---\nMessage-ID: <orig-2@aliasdesk.example>\nSubject: [HR-1]\n"
    )
    v = verdict("Return-Path: <>\nSubject: Undelivered Mail Returned to Sender", body)
    assert v.kind == "bounce"
    assert v.bounced_message_ids == ("<orig-2@aliasdesk.example>",)


def test_bounce_subject_alone_stays_human() -> None:
    assert verdict("Subject: Returned mail? Please check our process").kind is None
    assert verdict("Subject: original as attachment").kind is None


def test_null_return_path_alone_stays_human() -> None:
    assert verdict("Return-Path: <>\nSubject: Offer").kind is None


def test_own_alias() -> None:
    raw = b"From: HR <HR@example.com>\nSubject: x\n\nbody"
    v = machine_verdict(parse_mail(raw), own_addresses=frozenset({"hr@example.com"}))
    assert v.kind == "own-alias"


def test_loop_marker_any_value_or_given_value() -> None:
    assert verdict("Subject: x\nX-Aliasdesk-Loop: abc").kind == "loop-marker"
    v = verdict("Subject: x\nX-Aliasdesk-Loop: other", loop_marker_value="abc")
    assert v.kind is None
    v = verdict("Subject: x\nX-Aliasdesk-Loop: abc", loop_marker_value="abc")
    assert v.kind == "loop-marker"
    v = verdict("Subject: x\nX-Custom-Loop: 1", loop_marker_header="X-Custom-Loop")
    assert v.kind == "loop-marker"


def test_amazon_ses_notification() -> None:
    body = '{"notificationType":"Bounce","bounce":{"bounceType":"Permanent"}}'
    raw = (
        "From: no-reply@sns.amazonaws.com\nSubject: AWS Notification Message\n\n" + body
    ).encode()
    assert machine_verdict(parse_mail(raw)).kind == "bounce"


def test_kinds_are_closed() -> None:
    assert len(KINDS) == 10


def _parsed(headers: str = "", sender: str = "Dave <dave@example.com>") -> ParsedMail:
    head = HUMAN_HEAD.replace("Dave <dave@example.com>", sender) + headers
    return parse_mail((head.strip("\n") + "\n\nHello, I need help.\n").encode())


def test_signals_read_with_the_parse_decide_as_the_loops_stage_would() -> None:
    """``aliasdesk import``'s helper reads ``mail_signals`` with the parse; the importer's
    verdict then uses them instead of reading the mail again, after the checks that need
    the rules (our loop marker, our own aliases), which still come first."""
    samples = [
        _parsed(),
        _parsed("Auto-Submitted: auto-replied\n"),
        _parsed("Precedence: bulk\n"),
        _parsed("Subject: Undelivered Mail Returned to Sender\n", "MAILER-DAEMON@example.org"),
        _parsed("X-Aliasdesk-Loop: desk-1\nAuto-Submitted: auto-replied\n"),
        _parsed("Precedence: bulk\n", "hr@example.com"),
    ]
    own = frozenset({"hr@example.com"})
    for sample in samples:
        assert sample.signals is None  # the pipeline's own parse leaves them unread
        expected = machine_verdict(sample, own_addresses=own)
        sample.signals = mail_signals(sample)
        assert machine_verdict(sample, own_addresses=own) == expected
    # Read signals are what the verdict uses: a mail is not read a second time.
    told = _parsed()
    told.signals = MachineVerdict("bulk", "read with the parse")
    assert machine_verdict(told) == told.signals
    looped = _parsed("X-Aliasdesk-Loop: desk-1\n")
    looped.signals = MachineVerdict(None, "no machine-mail signal")
    assert machine_verdict(looped).kind == "loop-marker"
