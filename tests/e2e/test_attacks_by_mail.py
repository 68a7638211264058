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


PHISHING = """Please have a look.

---------- Forwarded message ---------
From: Victim <victim@outside.example>
Subject: Sign in now

Sign in at https://evil.example/login to keep your account.
"""


def test_a_forged_forward_writes_to_no_victim(talk: Conversation) -> None:
    sent = talk.mail(build_mail("Carol <carol@example.com>", "it@example.com",
                                "Fwd: Sign in now", PHISHING))  # fmt: skip
    assert not _to(sent, "victim@outside.example")
    assert talk.ticket("IT-1")["requester"] == "carol@example.com"


def test_fifteen_forged_closes_get_the_victim_one_mail(talk: Conversation) -> None:
    for attempt in range(15):
        talk.imap.append(build_mail("victim@outside.example", "hr@example.com",
                                    f"[HR-1] close {attempt}", "#close"))  # fmt: skip
    sent = talk.mail(build_mail("victim@outside.example", "hr@example.com", "[HR-1]", "#close"))
    assert talk.ticket()["status"] == "new"
    total = [m for m in talk.sink.messages if "victim@outside.example" in m.rcpt_tos]
    assert len(total) == 1 and not _to(sent, "dave@example.com")


def test_a_closed_tickets_tag_opens_the_strangers_own_ticket(talk: Conversation) -> None:
    relayed = _to(talk.mail(build_mail(DAVE, "hr@example.com", "Re: [HR-1]", "Any news?")),
                     "alice@example.com")[0]  # fmt: skip
    talk.mail(build_mail(ALICE, "hr@example.com", "Re: [HR-1]", "#close",
                         headers={"In-Reply-To": str(relayed["Message-ID"])}))  # fmt: skip
    assert talk.ticket()["status"] == "closed"
    sent = talk.mail(build_mail("mallory@elsewhere.example", "hr@example.com", "[HR-1]", "hi"))
    [ack] = _to(sent, "mallory@elsewhere.example")
    assert "[HR-2]" in ack["Subject"] and "Harassment" not in ack.as_string()
    assert talk.ticket("HR-2")["subject"] == "(no subject)"
