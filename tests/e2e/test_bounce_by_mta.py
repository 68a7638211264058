"""A real bounce, end to end: the acknowledgement leaves through a real Postfix, a partner
server refuses the requester for good, Postfix writes its RFC 3464 report back to the
alias; that report is APPENDed to the IMAP mailbox and ``aliasdesk run --once`` takes it in.
The ticket records it, the delivery is failed, the owner is told, and nothing answers it.

Needs Postfix (tests/support/postfix.py): skipped locally without it, a failure in CI.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery
from tests.support.harness import ROUTING, build_mail
from tests.support.postfix import PostfixError, PostfixServer, find_postfix
from tests.support.servers import ImapTestServer
from tests.support.services import service_missing
from tests.support.smtp_script import Received, ScriptedSmtpServer

ROOT = Path(__file__).resolve().parents[2]
ALIASDESK = shutil.which("aliasdesk", path=str(Path(sys.executable).parent)) or "aliasdesk"
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
    if find_postfix() is None:
        service_missing("postfix", "not installed; bash .ci/install-postfix.sh")
    server = PostfixServer({"partner.test": partner.port, "example.com": department_mail.port})
    try:
        server.start()
    except (PostfixError, OSError, LookupError) as exc:
        server.stop()
        service_missing("postfix", str(exc))
    try:
        yield server
    finally:
        server.stop()


def _env(imap: ImapTestServer, mta: PostfixServer, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    env.update(
        ALIASDESK_DATABASE_URL=database_url,
        ALIASDESK_ROUTING_FILE=str(ROUTING),
        ALIASDESK_IMAP_HOST=imap.host,
        ALIASDESK_IMAP_PORT=str(imap.port),
        ALIASDESK_IMAP_USERNAME=imap.username,
        ALIASDESK_IMAP_PASSWORD=imap.password,
        ALIASDESK_IMAP_SECURITY="none",
        ALIASDESK_SMTP_HOST=mta.host,
        ALIASDESK_SMTP_PORT=str(mta.port),
        ALIASDESK_SMTP_SECURITY="none",
    )
    return env


def _aliasdesk(env: dict[str, str], *args: str) -> Any:
    result = subprocess.run(
        [ALIASDESK, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout) if "--json" in args else result.stdout


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
    _aliasdesk(env, "run", "--once")
    assert f"RCPT {REQUESTER}" in partner.handler.commands and not partner.handler.received
    owner = _aliasdesk(env, "tickets", "show", "HR-1", "--json")["owner"]

    report = _wait_for(department_mail, "hr@example.com", postfix)
    assert report.mail_from in ("", "<>")  # RFC 5321 §4.5.5: reports have no return path
    assert _parsed(report).get_content_type() == "multipart/report"
    imap_server.append(report.data)
    _aliasdesk(env, "run", "--once")

    [entry, *_] = _aliasdesk(env, "mail", "list", "--json")
    assert (entry["outcome"], entry["tickets"]) == ("update_ticket", ["HR-1"]), entry["reason"]
    ticket = _aliasdesk(env, "tickets", "show", "HR-1", "--json")
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
