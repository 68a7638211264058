"""A claimed batch of deliveries reads what its mails quote about their tickets (the other
departments' tickets opened from the same mail, the request's files) once for the batch,
not once per mail, and the mails still say the same: each acknowledgement names the other
department's ticket and each owner gets the request's file."""

from __future__ import annotations

import base64

from sqlalchemy import select

from aliasdesk.db.models import Ticket
from aliasdesk.runtime import Runtime
from tests.support.harness import build_mail, drain_jobs, feed
from tests.support.smtp_script import ScriptedSmtpServer

REQUESTS = 8
FILE = b"%PDF-1.4 leave form " * 40


def _with_file(sender: str, subject: str) -> bytes:
    """A request to HR and IT at once, carrying one PDF."""
    boundary = "b-" + subject.replace(" ", "-")
    body = (
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease see the form.\r\n"
        f"--{boundary}\r\nContent-Type: application/pdf\r\n"
        'Content-Disposition: attachment; filename="form.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{base64.encodebytes(FILE).decode().replace(chr(10), chr(13) + chr(10))}"
        f"--{boundary}--\r\n"
    )
    head = build_mail(
        sender=sender,
        to="hr@example.com",
        subject=subject,
        headers={"Cc": "it@example.com"},
    ).split(b"\r\n\r\n", 1)[0]
    head = head.replace(
        b"Content-Type: text/plain; charset=utf-8",
        f'Content-Type: multipart/mixed; boundary="{boundary}"'.encode(),
    )
    return head + b"\r\n\r\n" + body.encode()


def test_a_batch_reads_links_and_files_once_and_mails_still_carry_them(
    runtime: Runtime, smtp: ScriptedSmtpServer, statements: list[str]
) -> None:
    feed(runtime, *[_with_file(f"p{i}@example.com", f"leave {i}") for i in range(REQUESTS)])
    del statements[:]
    drain_jobs(runtime)
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    link_reads = [s for s in reads if "ticket_links" in s]
    file_lists = [s for s in reads if "attachments.size" in s]
    # Sixteen tickets and thirty-two mails in a claimed batch or two: a query per batch.
    assert 1 <= len(link_reads) <= 3, link_reads
    assert 1 <= len(file_lists) <= 3, file_lists

    with runtime.db.reader() as session:
        refs = {t.requester: [] for t in session.scalars(select(Ticket))}
        for ticket in session.scalars(select(Ticket).order_by(Ticket.id)):
            refs[ticket.requester].append(ticket.ref)
    acks = [m for m in smtp.handler.received if b"Auto-Submitted: auto-replied" in m.data]
    assert len(acks) == 2 * REQUESTS
    for ack in acks:
        [requester] = ack.rcpt_tos
        text = ack.data.decode("utf-8", "replace")
        # Each acknowledgement names the ticket the other department opened.
        assert sum(ref in text for ref in refs[requester]) == 2, (refs[requester], text[:400])
    owners_mail = [m for m in smtp.handler.received if b"form.pdf" in m.data and m not in acks]
    assert len(owners_mail) == 2 * REQUESTS
    assert all(base64.encodebytes(FILE)[:60] in m.data.replace(b"\r\n", b"\n") for m in owners_mail)
