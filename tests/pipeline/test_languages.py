"""Requesters are written to in their own language, through the real intake and a real
SMTP server, on SQLite and PostgreSQL: a German, a French and a Dutch request each get
their acknowledgement, status mail and feedback request in that language, with no English
left in them; ``#lang`` outweighs detection, earlier tickets count for the next one, a
short request falls back to the department's default, a member reads their own, a
member's #lang sets the requester's language on that ticket and a watcher keeps theirs."""

from __future__ import annotations

import email.utils
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from aliasdesk.db.models import LanguageChoice, Ticket
from aliasdesk.runtime import Runtime
from aliasdesk.services import reports
from tests.pipeline.test_conversation import kind_of, mails_to, step, text_of
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
      - {address: alice@example.com, name: Alice Hart, language: nl}
    assignment: fixed:alice@example.com
    language: es
"""
ALICE = "Alice Hart <alice@example.com>"
REQUESTS = {
    "de": (
        "Dieter Brandt <dieter@example.com>",
        "Elternzeit ab Juni",
        "Guten Tag, ich möchte ab dem ersten Juni Elternzeit nehmen. Welches Formular "
        "brauche ich dafür und bis wann muss ich es abgeben?",
    ),
    "fr": (
        "Françoise Martin <francoise@example.com>",
        "Congé parental à partir de juin",
        "Bonjour, je souhaite prendre un congé parental à partir du premier juin. Quel "
        "formulaire dois-je remplir et avant quelle date faut-il le rendre ?",
    ),
    "nl": (
        "Noor de Vries <noor@example.com>",
        "Ouderschapsverlof vanaf juni",
        "Hallo, ik wil graag vanaf één juni ouderschapsverlof opnemen. Welk formulier "
        "moet ik daarvoor invullen en wanneer moet ik het inleveren?",
    ),
}
EXPECTED = {
    "de": ("Hallo Dieter Brandt,", "kümmert sich darum", "Wie zufrieden waren Sie?"),
    "fr": ("Bonjour Françoise Martin,", "s’en occupe", "Comment cela s’est-il passé ?"),
    "nl": ("Hallo Noor de Vries,", "pakt dit op", "Hoe hebben we het gedaan?"),
}


@pytest.fixture
def desk(database_url: str, smtp: ScriptedSmtpServer, tmp_path: Path) -> Iterator[Runtime]:
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING)
    runtime = runtime_for(database_url, smtp.port, routing_file=routing)
    yield runtime
    runtime.close()


def address_of(person: str) -> str:
    return email.utils.parseaddr(person)[1]


def to(smtp: ScriptedSmtpServer, person: str, kind: str) -> list[EmailMessage]:
    return [m for m in mails_to(smtp, address_of(person)) if kind_of(m) == kind]


def html_of(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def member_says(smtp: ScriptedSmtpServer, ref: str, body: str) -> bytes:
    """Alice answering the latest mail she got about ``ref`` (which verifies her)."""
    about = [m for m in mails_to(smtp, "alice@example.com") if f"[{ref}]" in str(m["Subject"])]
    headers = {"In-Reply-To": str(about[-1]["Message-ID"])}
    return build_mail(ALICE, "hr@example.com", f"Re: [{ref}] request", body, headers=headers)


def ticket_language(runtime: Runtime, number: int) -> str | None:
    with runtime.db.reader() as session:
        return session.scalar(select(Ticket.language).where(Ticket.number == number))


def test_german_french_and_dutch_requesters_hear_everything_in_their_language(
    desk: Runtime, smtp: ScriptedSmtpServer
) -> None:
    for number, (language, (person, subject, text)) in enumerate(REQUESTS.items(), start=1):
        assert step(desk, build_mail(person, "hr@example.com", subject, text)) == "new_ticket"
        assert ticket_language(desk, number) == language
        with desk.db.reader() as session:
            ticket = session.scalar(select(Ticket).where(Ticket.number == number))
            assert ticket is not None
            assert reports.show_ticket(session, ticket)["language"] == language
        ref = f"HR-{number}"
        step(desk, member_says(smtp, ref, "#status pending"))
        step(desk, member_says(smtp, ref, "#resolve"))
        mails = [
            *to(smtp, person, "acknowledgement"),
            *to(smtp, person, "status_update"),
            *to(smtp, person, "feedback_request"),
        ]
        assert [kind_of(m) for m in mails] == [
            "acknowledgement",
            "status_update",
            "feedback_request",
        ]
        greeting, promise, rating = EXPECTED[language]
        ack, status, feedback = (text_of(m) for m in mails)
        assert greeting in ack and promise in ack, ack
        assert greeting in status and "Alice Hart" in status, status
        assert rating in feedback, feedback
        for mail in mails:
            assert f'<html lang="{language}">' in html_of(mail)
            parts = [text_of(mail), html_of(mail)]
            assert english_leaks(parts, [], language, [subject, text]) == [], kind_of(mail)


def test_own_choice_outweighs_detection_and_carries_to_the_next_ticket(
    desk: Runtime, smtp: ScriptedSmtpServer
) -> None:
    person, subject, text = REQUESTS["de"]
    assert step(desk, build_mail(person, "hr@example.com", subject, text)) == "new_ticket"
    reply = build_mail(person, "hr@example.com", "Re: [HR-1] Elternzeit", "#lang fr\n\nMerci.")
    assert step(desk, reply) == "update_ticket"
    with desk.db.reader() as session:
        chosen = session.get(LanguageChoice, "dieter@example.com")
        assert chosen is not None and chosen.language == "fr"
    assert ticket_language(desk, 1) == "fr"
    step(desk, member_says(smtp, "HR-1", "#status pending"))
    assert "Bonjour Dieter Brandt," in text_of(to(smtp, person, "status_update")[-1])
    # A new request in German: the choice still counts.
    again = build_mail(person, "hr@example.com", "Noch eine Frage", text)
    assert step(desk, again) == "new_ticket"
    assert ticket_language(desk, 2) == "fr"


def test_earlier_tickets_count_and_a_short_request_falls_back_to_the_default(
    desk: Runtime, smtp: ScriptedSmtpServer
) -> None:
    person, subject, text = REQUESTS["nl"]
    assert step(desk, build_mail(person, "hr@example.com", subject, text)) == "new_ticket"
    assert step(desk, build_mail(person, "hr@example.com", "Vraagje", "Dank!")) == "new_ticket"
    assert ticket_language(desk, 2) == "nl"  # too short to tell: her earlier ticket's
    stranger = "Sam <sam@example.com>"
    assert step(desk, build_mail(stranger, "hr@example.com", "Hi", "Thanks!")) == "new_ticket"
    assert ticket_language(desk, 3) == "es"  # nothing known: the department's default
    assert "Hola, Sam:" in text_of(to(smtp, stranger, "acknowledgement")[-1])


def test_a_member_reads_their_own_language(desk: Runtime, smtp: ScriptedSmtpServer) -> None:
    person, subject, text = REQUESTS["de"]
    assert step(desk, build_mail(person, "hr@example.com", subject, text)) == "new_ticket"
    [assignment] = [m for m in mails_to(smtp, "alice@example.com") if kind_of(m) == "assignment"]
    assert '<html lang="nl">' in html_of(assignment)


def test_a_member_sets_the_requesters_language_and_a_bad_code_is_refused(
    desk: Runtime, smtp: ScriptedSmtpServer
) -> None:
    person, subject, text = REQUESTS["de"]
    assert step(desk, build_mail(person, "hr@example.com", subject, text)) == "new_ticket"
    step(desk, member_says(smtp, "HR-1", "#lang xx"))
    assert ticket_language(desk, 1) == "de"
    refusal = [m for m in mails_to(smtp, "alice@example.com") if kind_of(m) == "command_result"]
    assert "usage: #lang en|de|fr|es|nl" in text_of(refusal[-1])
    step(desk, member_says(smtp, "HR-1", "#lang nl\n#status pending"))
    assert ticket_language(desk, 1) == "nl"
    with desk.db.reader() as session:  # the member chose for this ticket, not for Dieter
        assert session.get(LanguageChoice, "dieter@example.com") is None
    assert "Hallo Dieter Brandt," in text_of(to(smtp, person, "status_update")[-1])
    assert "voorlopig in de wacht" in text_of(to(smtp, person, "status_update")[-1])


def test_a_watcher_reads_their_own_choice(desk: Runtime, smtp: ScriptedSmtpServer) -> None:
    person, subject, text = REQUESTS["de"]
    watcher = "Sam Lee <sam@partner.example.net>"
    request = build_mail(person, "hr@example.com", subject, text, headers={"Cc": watcher})
    assert step(desk, request) == "new_ticket"
    choice = build_mail(watcher, "hr@example.com", "Re: [HR-1] Elternzeit", "#lang es")
    assert step(desk, choice) == "update_ticket"
    assert ticket_language(desk, 1) == "de"  # the requester's stays
    step(desk, member_says(smtp, "HR-1", "#status pending"))
    assert "Hola, Sam Lee:" in text_of(to(smtp, watcher, "status_update")[-1])
    assert "Hallo Dieter Brandt," in text_of(to(smtp, person, "status_update")[-1])
