"""A real bounce, end to end: the acknowledgement leaves through a real Postfix, a partner
server refuses the requester for good, Postfix writes its RFC 3464 report back to the
alias; that report is APPENDed to the IMAP mailbox and ``aliasdesk run --once`` takes it in.
The ticket records it, the delivery is failed, the owner is told, and nothing answers it.

Needs Postfix (tests/support/postfix.py): skipped locally without it, a failure in CI.
"""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery
from tests.support.aliasdesk_process import cli, cli_json, mail_env
from tests.support.harness import build_mail
from tests.support.postfix import PostfixServer, running_postfix
from tests.support.servers import ImapTestServer
from tests.support.smtp_script import Received, ScriptedSmtpServer

REQUESTER = "dave@partner.test"
REFUSAL = f"550 5.1.1 <{REQUESTER}>: Recipient address rejected: User unknown"


@pytest.fixture
def partner() -> Iterator[ScriptedSmtpServer]:
    """The requester's mail server: it refuses the requester's address for good."""
    with ScriptedSmtpServer() as server:
        server.handler.refuse[REQUESTER] = REFUSAL
        yield server


@pytest.fixture
def department_mail() -> Iterator[ScriptedSmtpServer]:
    """Where mail for example.com ends up: the alias (reports come back here) and members."""
    with ScriptedSmtpServer() as server:
        yield server


@pytest.fixture
def postfix(
    partner: ScriptedSmtpServer, department_mail: ScriptedSmtpServer
) -> Iterator[PostfixServer]:
    with running_postfix(
        {"partner.test": partner.port, "example.com": department_mail.port}
    ) as server:
        yield server


def _env(imap: ImapTestServer, mta: PostfixServer, database_url: str) -> dict[str, str]:
    return mail_env(database_url, mta.host, mta.port, imap=imap)


def _parsed(item: Received) -> EmailMessage:
    message = email.message_from_bytes(item.data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _deliveries(database_url: str) -> list[Delivery]:
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            found = list(session.scalars(select(Delivery).order_by(Delivery.id)))
            session.expunge_all()
            return found
    finally:
        engine.dispose()


def _acknowledgement(database_url: str) -> Delivery:
    [found] = [d for d in _deliveries(database_url) if d.kind == "acknowledgement"]
    return found


def test_a_refused_acknowledgement_comes_back_and_lands_on_its_ticket(
    imap_server: ImapTestServer,
    postfix: PostfixServer,
    partner: ScriptedSmtpServer,
    department_mail: ScriptedSmtpServer,
    database_url: str,
) -> None:
    env = _env(imap_server, postfix, database_url)
    imap_server.append(build_mail(f"Dave <{REQUESTER}>", "hr@example.com", "Leave form"))
    cli(env, "run", "--once")
    assert f"RCPT {REQUESTER}" in partner.handler.commands and not partner.handler.received
    owner = cli_json(env, "tickets", "show", "HR-1")["owner"]

    report = _wait_for(department_mail, "hr@example.com", postfix)
    assert report.mail_from in ("", "<>")  # RFC 5321 §4.5.5: reports have no return path
    assert _parsed(report).get_content_type() == "multipart/report"
    imap_server.append(report.data)
    cli(env, "run", "--once")

    [entry, *_] = cli_json(env, "mail", "list")
    assert (entry["outcome"], entry["tickets"]) == ("update_ticket", ["HR-1"]), entry["reason"]
    ticket = cli_json(env, "tickets", "show", "HR-1")
    note = [m for m in ticket["messages"] if m["direction"] == "in"][-1]
    assert note["internal"] is True
    for words in (REQUESTER, "Action:     failed", "5.1.1", "Recipient address rejected"):
        assert words in note["text"]
    acknowledgement = _acknowledgement(database_url)
    assert acknowledgement.state == "failed" and "5.1.1" in (acknowledgement.last_error or "")

    notice = _parsed(_wait_for(department_mail, owner, postfix, "requester_unreachable"))
    assert notice["Subject"].startswith("[HR-1]")
    body = notice.get_body(("plain",))
    assert isinstance(body, EmailMessage) and REQUESTER in body.get_content()
    # Nothing answered the report: the requester got one mail, the reporter none.
    assert sorted(d.kind for d in _deliveries(database_url) if d.recipient == REQUESTER) == [
        "acknowledgement"
    ]
    assert {d.recipient for d in _deliveries(database_url)} == {REQUESTER, owner}


def _wait_for(
    server: ScriptedSmtpServer, wanted: str, mta: PostfixServer, kind: str = ""
) -> Received:
    """The first mail ``server`` received for ``wanted`` (of ``kind``, when given), waiting
    up to 30 s for the MTA to pass it on."""
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        for item in list(server.handler.received):
            if wanted in item.rcpt_tos and (
                not kind or f".{kind}." in str(_parsed(item)["Message-ID"])
            ):
                return item
        time.sleep(0.1)
    raise AssertionError(f"no {kind or 'mail'} for {wanted} in 30 s; Postfix log:\n{mta.log}")
