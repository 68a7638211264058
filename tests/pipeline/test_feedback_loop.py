"""Closing the feedback loop: the owner hears each rating with its comment, the requester
is thanked, and a rating of 1 or 2 reaches the department's leads (the admins where it
names none) with the public conversation, without singling out the owner.

The routing file is config/routing.yaml with the lead hanna@example.com for HR; IT has
none.
"""

from __future__ import annotations

from email.message import EmailMessage

from sqlalchemy import select

from aliasdesk.db.models import Ticket
from aliasdesk.runtime import Runtime
from tests.pipeline.test_conversation import (
    ALICE,
    DAVE,
    kind_of,
    mails_to,
    member_reply,
    open_request,
    reply,
    step,
    text_of,
)
from tests.support.harness import build_mail
from tests.support.smtp_script import ScriptedSmtpServer

LEAD = "hanna@example.com"
ADMIN = "ops@example.com"


def _kinds(smtp: ScriptedSmtpServer, address: str) -> list[str]:
    return [kind_of(m) for m in mails_to(smtp, address)]


def _resolved_with_answer(runtime: Runtime, smtp: ScriptedSmtpServer) -> None:
    """HR-1 from Dave, answered by its owner Alice with an internal note first, then
    resolved: the requester has been asked for feedback."""
    open_request(runtime, smtp, body="Which form do I need for parental leave?")
    step(runtime, member_reply(smtp, ALICE, "#note\nChecking with payroll, back tomorrow."))
    step(runtime, member_reply(smtp, ALICE, "#resolve\nIt is form PL-2 on the intranet."))
    assert _kinds(smtp, "dave@example.com")[-2:] == ["reply_relay", "feedback_request"]


def test_a_good_rating_reaches_the_owner_and_thanks_the_requester(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    _resolved_with_answer(runtime, smtp)
    alice_before = len(mails_to(smtp, "alice@example.com"))

    assert step(runtime, reply(DAVE, "4 quick, but the form was hard to find")) == "update_ticket"

    [notice] = mails_to(smtp, "alice@example.com")[alice_before:]
    assert kind_of(notice) == "rating_received"
    assert notice["Subject"] == "[HR-1] Parental leave"
    assert "4/5 (good)" in text_of(notice)
    assert "Dave Miller rated the help on HR-1" in text_of(notice)
    assert "the form was hard to find" in text_of(notice)
    thanks = mails_to(smtp, "dave@example.com")[-1]
    assert kind_of(thanks) == "rating_thanks"
    assert thanks["From"].addresses[0].addr_spec == "hr@example.com"
    assert thanks["In-Reply-To"] == "<req-1@example.com>"
    assert "Your rating, 4/5 (good), has reached" in " ".join(text_of(thanks).split())
    assert "sorry" not in text_of(thanks)
    assert mails_to(smtp, LEAD) == [] and mails_to(smtp, ADMIN) == []
    assert mails_to(smtp, "bob@example.com") == []


def test_a_poor_rating_alerts_the_leads_with_the_conversation_once_a_day(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    _resolved_with_answer(runtime, smtp)

    step(runtime, reply(DAVE, "1 - I had to ask twice and waited a week."))

    [alert] = mails_to(smtp, LEAD)
    assert kind_of(alert) == "poor_rating_alert"
    assert alert["Subject"] == "[HR-1] Parental leave"
    text = text_of(alert)
    headline, _, conversation = text.partition("The conversation")
    assert "rated the help on HR-1" in headline and "1/5 (very poor)" in headline
    assert "I had to ask twice and waited a week." in headline
    assert "Alice" not in headline, "the alert must not single out the owner"
    # The public conversation, oldest first; the internal note is not part of it.
    assert conversation.index("Which form do I need") < conversation.index("form PL-2")
    assert conversation.index("form PL-2") < conversation.index("I had to ask twice")
    assert "Checking with payroll" not in text and "#resolve" not in text
    assert "--- Alice, " in conversation and "--- Dave Miller, " in conversation
    assert _kinds(smtp, "alice@example.com")[-1] == "rating_received"
    assert "We are sorry" in text_of(mails_to(smtp, "dave@example.com")[-1])
    assert mails_to(smtp, ADMIN) == [] and mails_to(smtp, "bob@example.com") == []

    # A second poor rating the same day: the owner hears it, nobody else again.
    step(runtime, reply(DAVE, "2 still unhappy"))
    assert len(mails_to(smtp, LEAD)) == 1
    assert _kinds(smtp, "alice@example.com")[-2:] == ["rating_received", "rating_received"]
    assert _kinds(smtp, "dave@example.com").count("rating_thanks") == 1
    with runtime.db.reader() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket is not None
        assert (ticket.status, ticket.rating, ticket.rating_comment) == (
            "resolved",
            2,
            "still unhappy",
        )


def test_a_poor_rating_of_a_closed_ticket_without_leads_reaches_the_admins(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    assert step(runtime, build_mail(DAVE, "it@example.com", "VPN is down")) == "new_ticket"
    [assignment] = [m for m in _carol_dan_erin(smtp) if kind_of(m) == "assignment"]
    owner = assignment["To"].addresses[0].addr_spec
    answer = build_mail(
        owner,
        "it@example.com",
        "Re: [IT-1] VPN is down",
        "#resolve\nRestarted the gateway.",
        headers={"In-Reply-To": str(assignment["Message-ID"])},
    )
    step(runtime, answer)
    closing = mails_to(smtp, owner)[-1]
    step(
        runtime,
        build_mail(
            owner,
            "it@example.com",
            "Re: [IT-1] VPN is down",
            "#close",
            headers={"In-Reply-To": str(closing["Message-ID"])},
        ),
    )
    with runtime.db.reader() as session:
        assert session.scalar(select(Ticket.status)) == "closed"

    assert step(runtime, build_mail(DAVE, "it@example.com", "Re: [IT-1] VPN", "2")) == (
        "update_ticket"
    )

    [alert] = mails_to(smtp, ADMIN)
    assert kind_of(alert) == "poor_rating_alert" and "They wrote no comment." in text_of(alert)
    assert "Restarted the gateway." in text_of(alert)
    assert _kinds(smtp, owner)[-1] == "rating_received"
    assert _kinds(smtp, "dave@example.com")[-1] == "rating_thanks"
    assert mails_to(smtp, LEAD) == []


def _carol_dan_erin(smtp: ScriptedSmtpServer) -> list[EmailMessage]:
    members = ("carol@example.com", "dan@example.com", "erin@example.com")
    return [m for member in members for m in mails_to(smtp, member)]


def test_a_strangers_rating_changes_nothing_and_alerts_nobody(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    _resolved_with_answer(runtime, smtp)
    alice_before = _kinds(smtp, "alice@example.com")

    step(runtime, reply("Mallory <mallory@elsewhere.example>", "1 useless, fire them"))

    with runtime.db.reader() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket is not None and (ticket.rating, ticket.status) == (None, "resolved")
    assert mails_to(smtp, LEAD) == [] and mails_to(smtp, ADMIN) == []
    assert "rating_received" not in _kinds(smtp, "alice@example.com")[len(alice_before) :]
    assert "rating_thanks" not in _kinds(smtp, "dave@example.com")
    assert "rating_thanks" not in _kinds(smtp, "mallory@elsewhere.example")
