"""A desk worked as people work it, for end-to-end tests.

Every mail is APPENDed to a real IMAP mailbox and fetched by ``run --once``; what
aliasdesk sends is read back from a real SMTP sink; a member answers the very mail they
got (its Message-ID, References and subject tag, as a mail client builds a reply); the
tickets are read as an admin reads them, with the ``aliasdesk`` command in a process of
its own.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import email.utils
import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any
from unittest import mock

from aliasdesk.cli.main import main
from aliasdesk.cli.run import run_all
from aliasdesk.runtime import Runtime
from gateway.local_servers import SmtpSink
from tests.e2e.test_cli import cli
from tests.support.harness import build_mail, runtime_for
from tests.support.servers import ImapTestServer

__all__ = ["MailDesk", "Sent", "addr", "answer", "kind_of", "open_desk", "text_of"]


def text_of(mail: EmailMessage) -> str:
    """The plain-text part, as a reader sees it."""
    body = mail.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def kind_of(mail: EmailMessage) -> str:
    """The notification kind aliasdesk names in its own Message-IDs (``<…​.kind.…@…>``)."""
    return str(mail["Message-ID"]).split(".")[1]


@dataclass(frozen=True)
class Sent:
    """The mails one step made aliasdesk send, by recipient."""

    mails: tuple[tuple[str, EmailMessage], ...]

    def to(self, address: str) -> list[EmailMessage]:
        return [mail for rcpt, mail in self.mails if rcpt == address]

    def kinds(self, address: str) -> list[str]:
        return [kind_of(mail) for mail in self.to(address)]

    @property
    def recipients(self) -> set[str]:
        return {rcpt for rcpt, _ in self.mails}


class MailDesk:
    """One aliasdesk with its mailbox, its SMTP sink and the admin's command line."""

    def __init__(
        self, runtime: Runtime, imap: ImapTestServer, sink: SmtpSink, env: dict[str, str]
    ) -> None:
        self.runtime, self.imap, self.sink, self.env = runtime, imap, sink, env
        self.seen = 0

    def send(self, *raws: bytes) -> Sent:
        """Deliver mail into the mailbox, let aliasdesk run once, return what it sent."""
        self.imap.append_many(raws)
        assert run_all(self.runtime, once=True, stop=None) == 0
        return self.collect()

    def collect(self) -> Sent:
        """What arrived at the sink since the last look."""
        fresh = self.sink.messages[self.seen :]
        self.seen += len(fresh)
        mails = []
        for item in fresh:
            parsed = email.message_from_bytes(item.data, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            mails.extend((rcpt, parsed) for rcpt in item.rcpt_tos)
        return Sent(tuple(mails))

    def inbox(self, address: str) -> list[EmailMessage]:
        """Every mail ``address`` got so far, oldest first."""
        found = []
        for item in self.sink.messages:
            if address in item.rcpt_tos:
                parsed = email.message_from_bytes(item.data, policy=email.policy.default)
                assert isinstance(parsed, EmailMessage)
                found.append(parsed)
        return found

    def command(self, *args: str) -> CompletedProcess[str]:
        """The ``aliasdesk`` command on this desk's database and routing file, run as an
        admin runs it: a process of its own."""
        return cli(*args, env=self.env)

    def cli(self, *args: str) -> CompletedProcess[str]:
        """The ``aliasdesk`` command's own code, run in this process with the desk's
        environment: the same output, without a second start-up (seconds on a busy
        machine) for every look at a ticket."""
        out, err = io.StringIO(), io.StringIO()
        environ = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
        mask = os.umask(0o022)  # the only way to read the umask is to set one
        os.umask(mask)
        try:
            with (
                mock.patch.dict(os.environ, environ | self.env, clear=True),
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(err),
            ):
                code = main(list(args))
        finally:
            os.umask(mask)  # the command makes its own files private; the tests' stay as they were
        return CompletedProcess(["aliasdesk", *args], code, out.getvalue(), err.getvalue())

    def show(self, ref: str) -> dict[str, Any]:
        """``aliasdesk tickets show REF --json``."""
        result = self.cli("tickets", "show", ref, "--json")
        assert result.returncode == 0, result.stderr
        shown: dict[str, Any] = json.loads(result.stdout)
        return shown


def answer(mail: EmailMessage, sender: str, body: str, **headers: str) -> bytes:
    """``sender``'s reply to ``mail`` as a mail client writes it: to its Reply-To (or
    From), "Re: " and its subject, In-Reply-To its Message-ID, References the thread."""
    to = str(mail["Reply-To"] or mail["From"])
    parent = str(mail["Message-ID"])
    thread = " ".join(filter(None, [str(mail["References"] or ""), parent]))
    threading = {"In-Reply-To": parent, "References": thread}
    return build_mail(sender, to, f"Re: {mail['Subject']}", body, headers=threading | headers)


def addr(person: str) -> str:
    """The bare address of ``"Name <address>"``."""
    return email.utils.parseaddr(person)[1]


@contextmanager
def open_desk(
    imap: ImapTestServer, sink: SmtpSink, database_url: str, routing: Path, **settings: Any
) -> Iterator[MailDesk]:
    """A desk on ``imap``, ``sink`` and ``database_url`` with the routing file ``routing``."""
    runtime = runtime_for(
        database_url,
        sink.port,
        routing_file=routing,
        imap_host=imap.host,
        imap_port=imap.port,
        imap_username=imap.username,
        imap_password=imap.password,
        imap_security="none",
        **settings,
    )
    env = {"ALIASDESK_DATABASE_URL": database_url, "ALIASDESK_ROUTING_FILE": str(routing)}
    for name, value in settings.items():
        env[f"ALIASDESK_{name.upper()}"] = str(value)
    try:
        yield MailDesk(runtime, imap, sink, env)
    finally:
        runtime.close()
