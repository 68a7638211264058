"""The attacks of a hostile review, sent as an attacker would: APPENDed to a real Dovecot
mailbox, fetched by the gateway, answered to a real SMTP server, on SQLite and PostgreSQL.

Anyone can write any From, any Authentication-Results and any [KEY-N]; none of it may
change a ticket, reach the requester in the department's name, or show an outsider what
a ticket holds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aliasdesk.runtime import Runtime
from gateway.local_servers import SmtpSink
from tests.e2e.test_conversation_by_mail import ALICE, DAVE, Conversation, _text, _to
from tests.support.dovecot import DovecotServer
from tests.support.harness import build_mail, runtime_for

OURS = "mx.example.com"


@pytest.fixture
def desk(
    dovecot_server: DovecotServer, smtp_sink: SmtpSink, database_url: str
) -> Iterator[Runtime]:
    runtime = runtime_for(
        database_url,
        smtp_sink.port,
        imap_host=dovecot_server.host,
        imap_port=dovecot_server.port,
        imap_username=dovecot_server.username,
        imap_password=dovecot_server.password,
        imap_security="none",
        authserv_id=OURS,
    )
    yield runtime
    runtime.close()


@pytest.fixture
def talk(desk: Runtime, dovecot_server: DovecotServer, smtp_sink: SmtpSink) -> Conversation:
    talk = Conversation(desk, dovecot_server, smtp_sink)
    subject = "Harassment complaint about my manager Bob"
    talk.mail(build_mail(DAVE, "hr@example.com", subject, "It happened again today."))
    return talk


def test_forged_member_mail_changes_nothing_and_reaches_no_requester(talk: Conversation) -> None:
    before = talk.ticket()
    forged = {"Authentication-Results": "mx.evil.example; dmarc=pass header.from=example.com"}
    sent = talk.mail(build_mail(ALICE, "hr@example.com", "Re: [HR-1]",
                                "#resolve\nPay the fee at https://evil.example/pay",
                                headers=forged))  # fmt: skip
    after = talk.ticket()
    assert (after["status"], after["owner"]) == (before["status"], before["owner"])
    assert not _to(sent, "dave@example.com")
    [notice] = _to(sent, "alice@example.com")
    assert "could not confirm it really came from you" in " ".join(_text(notice).split())

    # The same words, now with our receiving server's DMARC pass, are Alice's own.
    ours = {"Authentication-Results": f"{OURS}; dmarc=pass header.from=example.com"}
    sent = talk.mail(build_mail(ALICE, "hr@example.com", "Re: [HR-1]",
                                "#priority high\nWe are on it.", headers=ours))  # fmt: skip
    assert talk.ticket()["priority"] == "high"
    assert "We are on it" in _text(_to(sent, "dave@example.com")[0])


def test_a_stranger_counting_tags_learns_no_subject(talk: Conversation) -> None:
    sent = talk.mail(build_mail("Mallory <mallory@elsewhere.example>", "hr@example.com",
                                "[HR-1]", "#close"))  # fmt: skip
    [answer] = _to(sent, "mallory@elsewhere.example")
    assert answer["Subject"] == "Re: [HR-1]"
    assert "Harassment" not in answer.as_string() and "Bob" not in answer.as_string()
    assert talk.ticket()["status"] == "new"
    assert not _to(sent, "dave@example.com")
