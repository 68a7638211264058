"""#merge and #move by reply, on SQLite and PostgreSQL, through the real intake and SMTP.

A merge folds one request of a requester into their other one in the same department; a
move hands a ticket to another department under a new reference. Either way the
requester side is told the new reference and mail to the old one still arrives.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from aliasdesk.db.models import Ticket, TicketLink, Watcher
from aliasdesk.domain.refs import parse_ref
from aliasdesk.runtime import Runtime
from aliasdesk.services import reports
from tests.pipeline.test_conversation import kind_of, mails_to, step, text_of
from tests.support.harness import build_mail
from tests.support.smtp_script import ScriptedSmtpServer

DAVE = "Dave Miller <dave@example.com>"
VERIFIED = {"Authentication-Results": "mx.example.com; dmarc=pass header.from=example.com"}


def view(runtime: Runtime, ref: str) -> dict[str, Any]:
    """``tickets show REF --json``, plus where its conversation went."""
    wanted = parse_ref(ref)
    with runtime.db.reader() as session:
        ticket = session.scalar(
            select(Ticket).where(
                Ticket.department == wanted.department, Ticket.number == wanted.number
            )
        )
        assert ticket is not None, ref
        shown = reports.show_ticket(session, ticket)
        target = session.get(Ticket, ticket.merged_into_id) if ticket.merged_into_id else None
        shown["handed_to"] = target.ref if target else None
        return shown


def ticket_count(runtime: Runtime) -> int:
    with runtime.db.reader() as session:
        return len(list(session.scalars(select(Ticket.id))))


def request(subject: str, body: str, to: str = "hr@example.com", **kw: Any) -> bytes:
    return build_mail(DAVE, to, subject, body, **kw)


def member(sender: str, ref: str, body: str, *, verified: bool = True) -> bytes:
    """A member's reply; verified by the receiving server's DMARC pass unless told not."""
    headers = dict(VERIFIED) if verified else {}
    to = "it@example.com" if ref.startswith("IT") else "hr@example.com"
    return build_mail(sender, to, f"Re: [{ref}] Parental leave", body, headers=headers)


def test_merge_moves_the_conversation_and_mail_to_the_old_tag_follows_it(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    assert step(runtime, request("Parental leave", "Which form do I need?")) == "new_ticket"
    assert step(runtime, request("Leave dates", "I plan June to August.")) == "new_ticket"
    owner = view(runtime, "HR-1")["owner"]
    assert owner

    assert step(runtime, member(owner, "HR-1", "#merge hr-2")) == "update_ticket"
    old, new = view(runtime, "HR-1"), view(runtime, "HR-2")
    assert (old["status"], old["handed_to"], old["messages"]) == ("closed", "HR-2", [])
    assert old["links"] == ["HR-2"] and new["links"] == ["HR-1"]
    texts = [m["text"].strip() for m in new["messages"]]
    assert "Which form do I need?" in texts and "I plan June to August." in texts
    assert new["status"] in {"new", "open"}
    assert any(e["kind"] == "merged" and "HR-1" in e["detail"] for e in new["events"])

    notice = mails_to(smtp, "dave@example.com")[-1]
    assert kind_of(notice) == "ticket_moved"
    assert notice["Subject"].startswith("[HR-2]")
    assert "HR-1" in text_of(notice) and "handling the two together as HR-2" in text_of(notice)
    assert "dave@example.com" not in text_of(notice)
    assert not [m for m in mails_to(smtp, owner) if kind_of(m) == "command_result"]

    # The old tag, and a reply to the old ticket's acknowledgement, land in HR-2.
    count = ticket_count(runtime)
    assert step(runtime, request("Re: [HR-1] Parental leave", "Is form L-2 fine too?")) == (
        "update_ticket"
    )
    first_ack = mails_to(smtp, "dave@example.com")[0]
    headers = {"In-Reply-To": str(first_ack["Message-ID"])}
    assert step(runtime, request("Re: Parental leave", "And the deadline?", headers=headers)) == (
        "update_ticket"
    )
    assert ticket_count(runtime) == count
    texts = [m["text"].strip() for m in view(runtime, "HR-2")["messages"]]
    assert "Is form L-2 fine too?" in texts and "And the deadline?" in texts
    assert view(runtime, "HR-1")["messages"] == []


def test_merge_is_refused_across_departments_requesters_closed_tickets_and_loops(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    step(runtime, request("Parental leave", "Which form do I need?"))  # HR-1
    step(runtime, request("Leave dates", "June to August."))  # HR-2
    step(runtime, build_mail("Erin Watts <erin@example.com>", body="My own leave"))  # HR-3
    step(runtime, request("Laptop", "My laptop is slow.", to="it@example.com"))  # IT-1
    alice = "Alice Archer <alice@example.com>"

    body = "#merge IT-1\n#merge HR-1\n#merge HR-3\n#merge HR-99\n#merge HR-x"
    assert step(runtime, member(alice, "HR-1", body)) == "update_ticket"
    result = mails_to(smtp, "alice@example.com")[-1]
    assert kind_of(result) == "command_result"
    said = text_of(result)
    assert "there is no ticket IT-1 in HR" in said  # another department's ticket is not shown
    assert "a ticket cannot be merged into itself" in said
    assert "HR-3 is another requester's request" in said
    assert "there is no ticket HR-99 in HR" in said
    assert "usage: #merge KEY-N" in said
    assert "My own leave" not in said and "laptop" not in said.lower()
    assert view(runtime, "HR-1")["status"] != "closed"
    assert view(runtime, "IT-1")["messages"][0]["text"].strip() == "My laptop is slow."

    # Someone writing as Alice without proof is a stranger: nothing is merged.
    step(runtime, member(alice, "HR-1", "#merge HR-2", verified=False))
    assert view(runtime, "HR-1")["handed_to"] is None

    step(runtime, member(alice, "HR-1", "#merge HR-2"))
    assert view(runtime, "HR-1")["handed_to"] == "HR-2"
    # A loop: HR-2 back into HR-1 (closed now), and a third merge of the closed one.
    step(runtime, member(alice, "HR-2", "#merge HR-1"))
    assert "HR-1 is closed" in text_of(mails_to(smtp, "alice@example.com")[-1])
    assert view(runtime, "HR-2")["status"] != "closed"
    assert view(runtime, "HR-2")["handed_to"] is None


def test_move_hands_the_ticket_to_another_department_under_a_new_reference(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    cc = {"Cc": "Erin Watts <erin@partner.example>"}
    assert step(runtime, request("Parental leave", "Which form?", headers=cc)) == "new_ticket"
    old_owner = view(runtime, "HR-1")["owner"]
    assert old_owner and view(runtime, "HR-1")["watchers"] == ["erin@partner.example"]
    acknowledgements = len(mails_to(smtp, "dave@example.com"))

    assert step(runtime, member(old_owner, "HR-1", "#move it")) == "update_ticket"
    old, new = view(runtime, "HR-1"), view(runtime, "IT-1")
    assert (old["status"], old["owner"], old["handed_to"]) == ("closed", None, "IT-1")
    assert new["department"] == "IT" and new["requester"] == "dave@example.com"
    assert new["owner"] in {"carol@example.com", "dan@example.com", "erin@example.com"}
    assert new["watchers"] == ["erin@partner.example"]
    assert new["links"] == ["HR-1"] and old["links"] == ["IT-1"]
    inbound = [m for m in new["messages"] if m["direction"] == "in"]
    assert [m["text"].strip() for m in inbound] == ["Which form?"]
    assert any(e["kind"] == "moved" for e in new["events"])

    for address in ("dave@example.com", "erin@partner.example"):
        [notice] = [m for m in mails_to(smtp, address) if kind_of(m) == "ticket_moved"]
        assert notice["From"].addresses[0].addr_spec == "it@example.com"
        assert notice["Subject"].startswith("[IT-1]")
        assert "Human Resources has passed your request HR-1 to IT Support" in text_of(notice)
    # Told of the move, not thanked a second time for writing.
    assert [kind_of(m) for m in mails_to(smtp, "dave@example.com")[acknowledgements:]] == [
        "ticket_moved"
    ]
    assignment = mails_to(smtp, new["owner"])[-1]
    assert kind_of(assignment) == "assignment" and "[IT-1]" in assignment["Subject"]

    assert step(runtime, request("Re: [HR-1] Parental leave", "Any news?")) == "update_ticket"
    assert [m["text"].strip() for m in view(runtime, "IT-1")["messages"]][-1] == "Any news?"
    assert ticket_count(runtime) == 2


def test_move_is_refused_to_unknown_or_same_department_and_from_closed_tickets(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    step(runtime, request("Parental leave", "Which form?"))
    alice = "Alice Archer <alice@example.com>"
    step(runtime, member(alice, "HR-1", "#move LEGAL\n#move hr\n#move it support"))
    said = text_of(mails_to(smtp, "alice@example.com")[-1])
    assert "there is no department LEGAL; known: HR, IT, FAC, FIN" in said
    assert "HR-1 is in HR already" in said
    assert "usage: #move DEPT" in said
    assert ticket_count(runtime) == 1

    step(runtime, member(alice, "HR-1", "#close"))
    step(runtime, member(alice, "HR-1", "#move IT"))
    assert "HR-1 is closed" in text_of(mails_to(smtp, "alice@example.com")[-1])
    assert ticket_count(runtime) == 1

    # A watcher or the requester cannot move it (nor anyone unverified).
    step(runtime, request("Second", "Another question"))  # HR-2
    step(runtime, request("Re: [HR-2] Second", "#move IT\nplease"))
    assert ticket_count(runtime) == 2
    refusal = mails_to(smtp, "dave@example.com")[-1]
    assert kind_of(refusal) == "command_result"
    assert "only members of HR can do this" in text_of(refusal)
    with runtime.db.reader() as session:
        assert list(session.scalars(select(TicketLink.ticket_id))) == []
        assert list(session.scalars(select(Watcher.address))) == []


def test_mail_to_a_ticket_merged_twice_reaches_the_last_one_and_a_cycle_ends(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    for subject in ("One", "Two", "Three"):
        step(runtime, request(subject, f"About {subject.lower()}."))
    alice = "Alice Archer <alice@example.com>"
    step(runtime, member(alice, "HR-1", "#merge HR-2"))
    step(runtime, member(alice, "HR-2", "#merge HR-3"))
    assert step(runtime, request("Re: [HR-1] One", "Still there?")) == "update_ticket"
    assert [m["text"].strip() for m in view(runtime, "HR-3")["messages"]][-1] == "Still there?"

    # Data the commands never write (a cycle) must not trap the intake either.
    with runtime.db.unit_of_work() as session:
        tickets = {t.number: t for t in session.scalars(select(Ticket))}
        tickets[3].merged_into_id = tickets[1].id
    assert step(runtime, request("Re: [HR-1] One", "Hello?")) == "update_ticket"
    assert ticket_count(runtime) == 3


def test_a_member_answering_the_old_tickets_mail_after_a_merge_is_still_themselves(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    step(runtime, request("Parental leave", "Which form do I need?"))
    step(runtime, request("Leave dates", "June to August."))
    alice = "Alice Archer <alice@example.com>"
    [old_assignment] = [m for m in mails_to(smtp, "alice@example.com") if "[HR-1]" in m["Subject"]]
    step(runtime, member(alice, "HR-1", "#merge HR-2"))
    # Her mail client answers the thread she has: HR-1's assignment, no DMARC header.
    thread = {"In-Reply-To": str(old_assignment["Message-ID"])}
    body = "#priority high\nBoth are in hand."
    step(runtime, build_mail(alice, "hr@example.com", "Re: [HR-1] Parental leave", body,
                             headers=thread))  # fmt: skip
    assert view(runtime, "HR-2")["priority"] == "high"
    relay = mails_to(smtp, "dave@example.com")[-1]
    assert kind_of(relay) == "reply_relay" and "Both are in hand." in text_of(relay)
    assert not [m for m in mails_to(smtp, "alice@example.com") if kind_of(m) == "unverified_member"]

    # Quoting a mail sent to someone else proves nothing, merged or not.
    [ack] = [m for m in mails_to(smtp, "dave@example.com") if "[HR-1]" in m["Subject"]][:1]
    forged = {"In-Reply-To": str(ack["Message-ID"])}
    step(runtime, build_mail(alice, "hr@example.com", "Re: [HR-1] x", "#priority low",
                             headers=forged))  # fmt: skip
    assert view(runtime, "HR-2")["priority"] == "high"
