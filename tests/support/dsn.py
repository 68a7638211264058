"""A delivery status notification as an MTA writes one (RFC 3464, RFC 6522), for tests that
need a report about a particular mail and address. Anyone can write one of these, which is
exactly what the forged-report tests rely on."""

from __future__ import annotations

from email.utils import formatdate, make_msgid

__all__ = ["delivery_status_report"]

_REPORT = """\
From: Mail Delivery System <MAILER-DAEMON@{reporter}>
To: hr@example.com
Subject: {subject}
Date: {date}
Message-ID: {report_id}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"

--{boundary}
Content-Type: text/plain; charset=us-ascii

This is the mail system at host {reporter}.

I'm sorry to have to inform you that your message could not be delivered.

--{boundary}
Content-Type: message/delivery-status

Reporting-MTA: dns; {reporter}

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.{domain}
Diagnostic-Code: smtp; {diagnostic}

--{boundary}
Content-Type: text/rfc822-headers

From: Human Resources <hr@example.com>
To: {recipient}
Subject: {returned_subject}
Message-ID: {original_message_id}
Auto-Submitted: auto-replied

--{boundary}--
"""


def delivery_status_report(
    original_message_id: str,
    recipient: str,
    *,
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "550 5.1.1 <{recipient}>: Recipient address rejected: User unknown",
    subject: str = "Undelivered Mail Returned to Sender",
    returned_subject: str = "[HR-1] Leave form",
    reporter: str = "mx.partner.example",
) -> bytes:
    """A multipart/report from MAILER-DAEMON to hr@example.com about one recipient, with
    the original's headers returned as text/rfc822-headers."""
    text = _REPORT.format(
        reporter=reporter,
        subject=subject,
        date=formatdate(localtime=False),
        report_id=make_msgid(domain=reporter),
        boundary=make_msgid().strip("<>").replace("@", "."),
        recipient=recipient,
        domain=recipient.partition("@")[2],
        action=action,
        status=status,
        diagnostic=diagnostic.format(recipient=recipient),
        returned_subject=returned_subject,
        original_message_id=original_message_id,
    )
    return text.replace("\n", "\r\n").encode()
