"""The answer to commands speaks its reader's language down to each command's line, through
the real intake and a real SMTP server, on SQLite and PostgreSQL: a German requester's
refused ``#close`` and unproven ``#resolve``, a German-speaking member's applied and
refused commands, and the same commands from an English-speaking member in English."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from aliasdesk.runtime import Runtime
from aliasdesk.settings.env import TEMPLATE_DIR
from tests.pipeline.conftest import AUTHSERV_ID
from tests.pipeline.test_conversation import kind_of, mails_to, step, text_of
from tests.pipeline.test_handover import VERIFIED
from tests.pipeline.test_languages import REQUESTS, html_of
from tests.support.harness import build_mail, runtime_for
from tests.support.languages import english_leaks
from tests.support.smtp_script import ScriptedSmtpServer

ROUTING = """\
organisation: {name: Example Corp, domains: [example.com]}
departments:
  HR:
    name: Human Resources
    aliases: [hr@example.com]
    members:
      - {address: alice@example.com, name: Alice Hart, language: de}
      - {address: bob@example.com, name: Bob Stone, language: en}
    assignment: fixed:alice@example.com
    language: en
"""
DIETER, SUBJECT, TEXT = REQUESTS["de"]
FACTS = [SUBJECT, TEXT, "HR", "HR-1", "Human Resources", "Dieter Brandt", "Alice Hart", "zoe"]
FACTS += ["no-such-answer", "#cc two words"]


@pytest.fixture
def desk(database_url: str, smtp: ScriptedSmtpServer, tmp_path: Path) -> Iterator[Runtime]:
    runtime = _desk(database_url, smtp, tmp_path)
    yield runtime
    runtime.close()


def _desk(database_url: str, smtp: ScriptedSmtpServer, tmp_path: Path, **more: Path) -> Runtime:
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING)
    return runtime_for(
        database_url, smtp.port, routing_file=routing, authserv_id=AUTHSERV_ID, **more
    )


def answer_to(smtp: ScriptedSmtpServer, address: str) -> EmailMessage:
    """The latest answer to commands ``address`` received."""
    return [m for m in mails_to(smtp, address) if kind_of(m) == "command_result"][-1]


def member_says(sender: str, body: str) -> bytes:
    """A member's reply to HR-1, verified by the receiving server's DMARC pass."""
    return build_mail(sender, "hr@example.com", "Re: [HR-1] request", body, headers=VERIFIED)


def assert_german(mail: EmailMessage, english: list[str]) -> None:
    """The frame and every command's line in German: no English phrase of the catalog,
    nor of the English texts the lines were written from, is left in it."""
    parts = [text_of(mail), html_of(mail)]
    assert '<html lang="de">' in parts[1]
    assert english_leaks(parts, english, "de", FACTS) == [], parts[0]


def test_a_german_requester_reads_why_their_commands_were_refused_in_german(
    desk: Runtime, smtp: ScriptedSmtpServer
) -> None:
    assert step(desk, build_mail(DIETER, "hr@example.com", SUBJECT, TEXT)) == "new_ticket"
    # Answering none of our mails: #resolve is not shown to be Dieter's, #close never his.
    reply = build_mail(DIETER, "hr@example.com", f"Re: [HR-1] {SUBJECT}", "#close\n#resolve")
    assert step(desk, reply) == "update_ticket"
    told = answer_to(smtp, "dieter@example.com")
    said = text_of(told)
    assert "#close  ->  das können nur Mitglieder von HR" in said, said
    assert "#resolve  ->  diese E-Mail ist keine Antwort auf eine unserer E-Mails" in said
    english = [
        "only members of HR can do this",
        "this mail came from the requester, so nothing was changed",
        "this mail does not answer one of our mails to you, so it could have been written "
        "by anyone using your address",
    ]
    assert_german(told, english)


def test_members_read_what_became_of_their_commands_in_their_own_language(
    desk: Runtime, smtp: ScriptedSmtpServer
) -> None:
    assert step(desk, build_mail(DIETER, "hr@example.com", SUBJECT, TEXT)) == "new_ticket"
    commands = "#status pending\n#assign zoe\n#reply no-such-answer\n#cc two words"
    step(desk, member_says("Alice Hart <alice@example.com>", commands))
    told = answer_to(smtp, "alice@example.com")
    said = text_of(told)
    assert "#status pending  ->  Status ist jetzt pending" in said, said
    assert "#assign zoe  ->  zoe ist kein Mitglied von HR, daher kann das Ticket" in said
    assert "es gibt keinen Textbaustein namens no-such-answer" in said, said
    assert "Verwendung: #cc name@example.com (eine Adresse)" in said, said
    english = [
        "status is now pending",
        "is not a member of HR, so the ticket cannot be given to them; nothing was changed",
        "there is no saved answer called no-such-answer",
    ]
    assert_german(told, english)

    step(desk, member_says("Bob Stone <bob@example.com>", "#priority high\n#assign zoe"))
    said = text_of(answer_to(smtp, "bob@example.com"))
    assert "#priority high  ->  priority is now high" in said, said
    assert "zoe is not a member of HR, so the ticket cannot be given to them" in said, said


def test_the_answers_take_their_words_from_the_organisations_own_template_folder(
    database_url: str, smtp: ScriptedSmtpServer, tmp_path: Path
) -> None:
    """ALIASDESK_TEMPLATE_DIR's catalogs speak in the answers to commands as they do in
    every mail; a catalog compiled again while the process runs is read again."""
    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATE_DIR, folder)
    german = folder / "locale" / "de" / "LC_MESSAGES"

    def reword(status_now: str) -> None:
        with open(german / "messages.po", "rb") as source:
            catalog = read_po(source, locale="de")
        catalog["status is now %(status)s"].string = status_now
        with open(german / "messages.mo", "wb") as target:
            write_mo(target, catalog)

    reword("Stand der Dinge: %(status)s")
    desk = _desk(database_url, smtp, tmp_path, template_dir=folder)
    try:
        assert step(desk, build_mail(DIETER, "hr@example.com", SUBJECT, TEXT)) == "new_ticket"
        step(desk, member_says("Alice Hart <alice@example.com>", "#status pending\n#assign zoe"))
        said = text_of(answer_to(smtp, "alice@example.com"))
        assert "#status pending  ->  Stand der Dinge: pending" in said, said
        reword("Neuer Stand: %(status)s!")
        step(desk, member_says("Alice Hart <alice@example.com>", "#status open\n#assign zoe"))
        said = text_of(answer_to(smtp, "alice@example.com"))
        assert "#status open  ->  Neuer Stand: open!" in said, said
    finally:
        desk.close()
