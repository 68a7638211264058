"""A German, a French and a Dutch request through real servers, on SQLite and PostgreSQL:
each mail is APPENDed to the IMAP mailbox and fetched by the gateway, and the requester's
acknowledgement, status mail and feedback request arrive at a real SMTP server in the
requester's language, with English nowhere in them."""

from __future__ import annotations

import email
import email.policy
import email.utils
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from aliasdesk.cli.run import run_all
from aliasdesk.runtime import Runtime
from gateway.local_servers import SmtpSink
from tests.support.harness import build_mail, runtime_for
from tests.support.languages import english_leaks
from tests.support.servers import ImapTestServer

ALICE = "Alice Archer <alice@example.com>"
ROUTING = """\
organisation: {name: Example Corp, domains: [example.com]}
departments:
  HR:
    name: Human Resources
    aliases: [hr@example.com]
    members: [alice@example.com]
    assignment: fixed:alice@example.com
"""
REQUESTS = (
    (
        "de",
        "Dieter Brandt <dieter@example.com>",
        "Neuer Laptop",
        "Guten Tag, mein Laptop startet seit heute Morgen nicht mehr. Können Sie mir "
        "bitte ein Ersatzgerät geben?",
        ("Hallo Dieter Brandt,", "Wie zufrieden waren Sie?"),
    ),
    (
        "fr",
        "Françoise Martin <francoise@example.com>",
        "Ordinateur portable",
        "Bonjour, mon ordinateur portable ne démarre plus depuis ce matin. Pourriez-vous "
        "me prêter un appareil de remplacement ?",
        ("Bonjour Françoise Martin,", "Comment cela s’est-il passé ?"),
    ),
    (
        "nl",
        "Noor de Vries <noor@example.com>",
        "Nieuwe laptop",
        "Hallo, mijn laptop start sinds vanochtend niet meer op. Kunnen jullie me een "
        "vervangend apparaat geven?",
        ("Hallo Noor de Vries,", "Hoe hebben we het gedaan?"),
    ),
)


@pytest.fixture
def desk(
    imap_server: ImapTestServer, smtp_sink: SmtpSink, database_url: str, tmp_path: Path
) -> Iterator[Runtime]:
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING)
    runtime = runtime_for(
        database_url,
        smtp_sink.port,
        routing_file=routing,
        imap_host=imap_server.host,
        imap_port=imap_server.port,
        imap_username=imap_server.username,
        imap_password=imap_server.password,
        imap_security="none",
    )
    yield runtime
    runtime.close()


def run_with(runtime: Runtime, imap: ImapTestServer, sink: SmtpSink, raw: bytes) -> None:
    imap.append(raw)
    assert run_all(runtime, once=True, stop=None) == 0


def sent_to(sink: SmtpSink, address: str) -> list[EmailMessage]:
    found = []
    for item in sink.messages:
        if list(item.rcpt_tos) == [address]:
            parsed = email.message_from_bytes(item.data, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            found.append(parsed)
    return found


def part(message: EmailMessage, kind: str) -> str:
    body = message.get_body((kind,))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def test_each_requester_hears_everything_in_their_language(
    desk: Runtime, imap_server: ImapTestServer, smtp_sink: SmtpSink
) -> None:
    for number, (language, person, subject, text, expected) in enumerate(REQUESTS, start=1):
        address = email.utils.parseaddr(person)[1]
        run_with(desk, imap_server, smtp_sink, build_mail(person, "hr@example.com", subject, text))
        about = [
            m for m in sent_to(smtp_sink, "alice@example.com") if f"[HR-{number}]" in m["Subject"]
        ]
        for command in ("#status pending", "#resolve"):
            reply = build_mail(
                ALICE,
                "hr@example.com",
                f"Re: [HR-{number}] {subject}",
                command,
                headers={"In-Reply-To": str(about[-1]["Message-ID"])},
            )
            run_with(desk, imap_server, smtp_sink, reply)
        mails = sent_to(smtp_sink, address)
        assert len(mails) == 3, [m["Subject"] for m in mails]
        greeting, rating = expected
        for mail in mails:
            assert greeting in part(mail, "plain")
            assert f'<html lang="{language}">' in part(mail, "html")
            shown = [part(mail, "plain"), part(mail, "html")]
            assert english_leaks(shown, [], language, [subject, text]) == []
        assert rating in part(mails[-1], "plain")
