"""The requester sees their own words and the members' answers, nothing the department
kept for itself: not a colleague's note or a stranger's mail quoted back in an answer, not
a watcher's mail on their page (CONTRACT §5: outsiders learn nothing)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from aliasdesk.db.models import Ticket, TicketMessage
from aliasdesk.runtime import Runtime
from aliasdesk.services.ticket_page import ticket_page
from tests.pipeline.conftest import AUTHSERV_ID
from tests.pipeline.test_conversation import (
    ALICE,
    kind_of,
    mails_to,
    member_reply,
    open_request,
    reply,
    shown,
    step,
    text_of,
)
from tests.pipeline.test_inline_answers import _quoted_with_answer_below
from tests.support.harness import ROUTING, build_mail, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

BOB = "Bob Baker <bob@example.com>"
PASS = {"Authentication-Results": f"{AUTHSERV_ID}; dmarc=pass header.from=example.com"}
NOTE = "Confidential: his manager says no leave before March."
STRANGER = "I am his landlord, he owes me 3000 EUR."


def test_a_note_quoted_in_an_answer_does_not_reach_the_requester(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp)
    step(runtime, reply(BOB, f"#note\n{NOTE}", headers=PASS))
    passed_on = mails_to(smtp, "alice@example.com")[-1]
    assert NOTE in text_of(passed_on)  # the owner reads the note...
    answer = _quoted_with_answer_below(
        text_of(passed_on), "Confidential", "Dave, we will get back to you."
    )
    step(runtime, member_reply(smtp, ALICE, answer))
    to_dave = mails_to(smtp, "dave@example.com")[-1]
    assert kind_of(to_dave) == "reply_relay"
    assert "we will get back to you" in text_of(to_dave)
    assert "Confidential" not in text_of(to_dave)  # ...the requester never does
    with runtime.db.reader() as session:
        copy = session.scalar(
            select(TicketMessage).where(
                TicketMessage.direction == "out", TicketMessage.text.contains("Confidential")
            )
        )
        assert copy is not None and copy.internal  # the copy sent to the owner is theirs


def test_a_strangers_mail_quoted_in_an_answer_does_not_reach_the_requester(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp)
    step(runtime, reply("Mallory <mallory@elsewhere.example>", STRANGER))
    passed_on = mails_to(smtp, "alice@example.com")[-1]
    assert STRANGER in text_of(passed_on)
    step(
        runtime,
        member_reply(smtp, ALICE, _quoted_with_answer_below(text_of(passed_on), "owes", "Noted.")),
    )
    to_dave = mails_to(smtp, "dave@example.com")[-1]
    assert "Noted." in text_of(to_dave) and "landlord" not in text_of(to_dave)


def test_a_watchers_mail_reaches_the_owner_and_neither_the_requesters_mail_nor_page(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp)
    step(runtime, member_reply(smtp, ALICE, "#cc manager@partner.example\nCopying your manager."))
    before = len(mails_to(smtp, "dave@example.com"))
    words = "Between us: Dave is on notice, please delay his leave."
    step(runtime, reply("Manager <manager@partner.example>", words))
    assert words in text_of(mails_to(smtp, "alice@example.com")[-1])
    assert mails_to(smtp, "dave@example.com")[before:] == []
    with runtime.db.reader() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket is not None
        page = ticket_page(session, ticket, runtime.routing.current())
    texts = [message.text for message in page.messages]
    assert any("Copying your manager" in text for text in texts)  # the member's answer
    assert not any("on notice" in text for text in texts)
    answer = _quoted_with_answer_below(
        text_of(mails_to(smtp, "alice@example.com")[-1]), "notice", "Ok."
    )
    step(runtime, member_reply(smtp, ALICE, answer))
    assert "on notice" not in text_of(mails_to(smtp, "dave@example.com")[-1])


def test_an_owner_taken_out_of_the_department_no_longer_hears_its_tickets(
    database_url: str, smtp: ScriptedSmtpServer, tmp_path: Path
) -> None:
    """The routing file moves bob from HR to IT: a reply on the HR ticket he owned goes to
    HR's members, not to him (he could no longer act on it, and must not read it)."""
    routing = tmp_path / "routing.yaml"
    text = ROUTING.read_text(encoding="utf-8")
    routing.write_text(text, encoding="utf-8")
    runtime = runtime_for(database_url, smtp.port, routing_file=routing)
    try:
        open_request(runtime, smtp)  # HR-1, alice's
        step(runtime, build_mail("Dave Miller <dave@example.com>", subject="Second thing"))
        assert shown(runtime, "HR-2")["owner"] == "bob@example.com"
        moved = text.replace(
            "members: [alice@example.com, bob@example.com]", "members: [alice@example.com]"
        ).replace(
            "      - carol@example.com\n", "      - carol@example.com\n      - bob@example.com\n"
        )
        assert moved != text
        before = routing.stat().st_mtime_ns
        routing.write_text(moved, encoding="utf-8")
        os.utime(routing, ns=(before + 2_000_000_000, before + 2_000_000_000))
        runtime.routing.check_every = 0
        assert not runtime.routing.current().is_member("bob@example.com", "HR")
        seen_by_bob = len(mails_to(smtp, "bob@example.com"))
        step(
            runtime,
            reply("Dave Miller <dave@example.com>", "My IBAN is DE00 1234.", "Re: [HR-2] x"),
        )
        assert mails_to(smtp, "bob@example.com")[seen_by_bob:] == []
        assert "DE00 1234" in text_of(mails_to(smtp, "alice@example.com")[-1])
    finally:
        runtime.close()


def test_an_acknowledgement_quotes_the_request_only_to_the_organisations_addresses(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    """Anyone can write with any From: a forger's words (a link, a demand) must not reach
    an outside address from the department's alias. The organisation's own people still
    get their request quoted back."""
    words = "Claim your refund now at http://refund.evil.example/pay"
    step(runtime, build_mail("Victim <victim@outside.example>", "hr@example.com", "Refund", words))
    step(runtime, build_mail("Dave Miller <dave@example.com>", "hr@example.com", "Leave", "Form?"))
    [outside] = mails_to(smtp, "victim@outside.example")
    [inside] = mails_to(smtp, "dave@example.com")
    assert kind_of(outside) == kind_of(inside) == "acknowledgement"
    assert "[HR-1]" in str(outside["Subject"]) and "HR-1" in text_of(outside)
    html = next(p for p in outside.walk() if p.get_content_type() == "text/html")
    for shown_text in (text_of(outside), html.get_content()):
        assert "evil.example" not in shown_text and "as we received it" not in shown_text
    assert "Form?" in text_of(inside) and "as we received it" in text_of(inside)
