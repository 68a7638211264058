"""The whole conversation through real servers: every mail is APPENDed to the IMAP
mailbox and fetched by the gateway, every answer arrives at a real SMTP server.

Request, acknowledgement, a member's reply with a command, the relay, the requester's
reply, resolve, the feedback reply, a reopen; and the refusals: a stranger's #close and
another department's member's #assign.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from aliasdesk.cli.run import run_all
from aliasdesk.db.queries import ticket_by_ref
from aliasdesk.runtime import Runtime
from aliasdesk.services import reports
from gateway.local_servers import SmtpSink
from tests.support.harness import build_mail, runtime_for
from tests.support.servers import ImapTestServer

DAVE = "Dave Miller <dave@example.com>"
ALICE = "Alice Archer <alice@example.com>"


@pytest.fixture
def desk(imap_server: ImapTestServer, smtp_sink: SmtpSink, sqlite_url: str) -> Iterator[Runtime]:
    runtime = runtime_for(
        sqlite_url,
        smtp_sink.port,
        imap_host=imap_server.host,
        imap_port=imap_server.port,
        imap_username=imap_server.username,
        imap_password=imap_server.password,
        imap_security="none",
    )
    yield runtime
    runtime.close()


class Conversation:
    """Append a mail, let aliasdesk run once, look at what it sent since the last step."""

    def __init__(self, runtime: Runtime, imap: ImapTestServer, sink: SmtpSink) -> None:
        self.runtime, self.imap, self.sink = runtime, imap, sink
        self.seen = 0

    def mail(self, raw: bytes) -> list[tuple[list[str], EmailMessage]]:
        self.imap.append(raw)
        assert run_all(self.runtime, once=True, stop=None) == 0
        fresh = self.sink.messages[self.seen :]
        self.seen = len(self.sink.messages)
        out = []
        for item in fresh:
            parsed = email.message_from_bytes(item.data, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            out.append((list(item.rcpt_tos), parsed))
        return out

    def ticket(self, ref: str = "HR-1") -> dict[str, object]:
        with self.runtime.db.reader() as session:
            ticket = ticket_by_ref(session, ref)
            assert ticket is not None
            return reports.show_ticket(session, ticket)


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def _to(sent: list[tuple[list[str], EmailMessage]], address: str) -> list[EmailMessage]:
    return [m for rcpt, m in sent if rcpt == [address]]


def test_a_ticket_worked_entirely_by_mail(
    desk: Runtime, imap_server: ImapTestServer, smtp_sink: SmtpSink
) -> None:
    talk = Conversation(desk, imap_server, smtp_sink)
    sent = talk.mail(
        build_mail(
            DAVE,
            "hr@example.com",
            "Parental leave",
            "Which form do I need?",
            message_id="<c1@example.com>",
        )
    )
    [ack] = _to(sent, "dave@example.com")
    [assignment] = _to(sent, "alice@example.com")
    assert ack["Subject"].startswith("[HR-1]") and ack["In-Reply-To"] == "<c1@example.com>"
    assert "#resolve" in _text(assignment)

    reply = (
        "#priority high\n\nHi Dave, please use form L-1.\n\n"
        "On Mon, Dave Miller wrote:\n> Which form do I need?\n"
    )
    sent = talk.mail(
        build_mail(
            ALICE,
            "hr@example.com",
            "Re: [HR-1] Parental leave",
            reply,
            headers={"In-Reply-To": str(assignment["Message-ID"])},
        )
    )
    [relay] = _to(sent, "dave@example.com")
    assert relay["From"].addresses[0].addr_spec == "hr@example.com"
    assert relay["Subject"].startswith("[HR-1]")
    assert "please use form L-1" in _text(relay)
    assert "#priority" not in _text(relay) and "Which form do I need" not in _text(relay)
    view = talk.ticket()
    assert (view["status"], view["priority"], view["owner"]) == (
        "open",
        "high",
        "alice@example.com",
    )

    sent = talk.mail(
        build_mail(
            DAVE, "hr@example.com", "Re: [HR-1] Parental leave", "Thanks! Where do I send it?"
        )
    )
    [question] = _to(sent, "alice@example.com")
    assert "Where do I send it" in _text(question)

    sent = talk.mail(
        build_mail(
            ALICE,
            "hr@example.com",
            "Re: [HR-1] Parental leave",
            "#resolve\nSend it to HR by internal mail.",
            headers={"In-Reply-To": str(question["Message-ID"])},
        )
    )
    kinds = sorted(m["Subject"] for m in _to(sent, "dave@example.com"))
    assert len(kinds) == 2 and talk.ticket()["status"] == "resolved"
    feedback = [m for m in _to(sent, "dave@example.com") if "1" in _text(m) and "5" in _text(m)]
    assert feedback, "the requester got no feedback request with the rating scale"

    talk.mail(build_mail(DAVE, "hr@example.com", "Re: [HR-1] How did we do?", "5 quick and clear"))
    view = talk.ticket()
    assert (view["status"], view["rating"]) == ("resolved", 5)

    # Refusals: nobody outside the department changes the ticket.
    sent = talk.mail(
        build_mail(
            "Mallory <mallory@elsewhere.example>",
            "hr@example.com",
            "Re: [HR-1] Parental leave",
            "#close\nClose this now.",
        )
    )
    assert _to(sent, "mallory@elsewhere.example"), "the stranger was not told why"
    assert not _to(sent, "dave@example.com")
    sent = talk.mail(
        build_mail(
            "Carol <carol@example.com>",
            "hr@example.com",
            "Re: [HR-1] Parental leave",
            "#assign carol@example.com",
        )
    )
    assert _to(sent, "carol@example.com")
    view = talk.ticket()
    assert (view["status"], view["owner"]) == ("resolved", "alice@example.com")

    talk.mail(
        build_mail(
            DAVE,
            "hr@example.com",
            "Re: [HR-1] Parental leave",
            "One more question: does it cover part-time?",
        )
    )
    view = talk.ticket()
    assert view["status"] == "open"
    assert "reopened" in view["events"][-1]["detail"]  # type: ignore[index]
