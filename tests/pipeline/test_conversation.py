"""Working a ticket by reply: the whole conversation, on SQLite and PostgreSQL.

Every step goes through the real intake and a real SMTP server; what the requester and
the members receive is read back from the server, what the ticket holds from the CONTRACT
§4 view.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select

from aliasdesk.db.models import Ticket
from aliasdesk.runtime import Runtime
from aliasdesk.services import reports
from tests.support.harness import build_mail, drain_jobs, feed
from tests.support.smtp_script import ScriptedSmtpServer

DAVE = "Dave Miller <dave@example.com>"
ALICE = "Alice Archer <alice@example.com>"
EVENT_KINDS = {
    "created",
    "assigned",
    "status",
    "priority",
    "reply",
    "note",
    "feedback",
    "escalated",
}


def mails_to(smtp: ScriptedSmtpServer, address: str) -> list[EmailMessage]:
    return [item.parsed() for item in smtp.handler.received if address in item.rcpt_tos]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    content = body.get_content()
    assert isinstance(content, str)
    return content


def kind_of(message: EmailMessage) -> str:
    return str(message["Message-ID"]).split(".")[1]


def kinds_since(smtp: ScriptedSmtpServer, address: str, seen: int) -> list[str]:
    return sorted(kind_of(m) for m in mails_to(smtp, address)[seen:])


def step(runtime: Runtime, raw: bytes) -> str:
    [result] = feed(runtime, raw)
    drain_jobs(runtime)
    return result.outcome


def shown(runtime: Runtime, ref: str = "HR-1") -> dict[str, Any]:
    with runtime.db.reader() as session:
        ticket = session.scalar(
            select(Ticket).where(Ticket.department == ref.split("-")[0], Ticket.number == 1)
            if ref.endswith("-1")
            else select(Ticket).where(Ticket.number == int(ref.split("-")[1]))
        )
        assert ticket is not None
        return reports.show_ticket(session, ticket)


def reply(sender: str, body: str, subject: str = "Re: [HR-1] Parental leave", **kw: Any) -> bytes:
    return build_mail(sender, "hr@example.com", subject, body, **kw)


def member_reply(
    smtp: ScriptedSmtpServer,
    sender: str,
    body: str,
    subject: str = "Re: [HR-1] Parental leave",
    **kw: Any,
) -> bytes:
    """A member answering, as their mail client does, the latest mail we sent them:
    In-Reply-To names it, which is what verifies their From (CONTRACT §5)."""
    address = email.utils.parseaddr(sender)[1]
    latest = mails_to(smtp, address)[-1]
    headers = {"In-Reply-To": str(latest["Message-ID"]), **kw.pop("headers", {})}
    return reply(sender, body, subject, headers=headers, **kw)


def open_request(runtime: Runtime, smtp: ScriptedSmtpServer, **kw: Any) -> None:
    assert step(runtime, build_mail(DAVE, message_id="<req-1@example.com>", **kw)) == "new_ticket"
    assert [kind_of(m) for m in mails_to(smtp, "dave@example.com")] == ["acknowledgement"]


def test_a_whole_conversation_from_request_to_a_linked_new_ticket(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp)
    assert shown(runtime)["status"] == "new"

    answer = (
        "#priority high\n\nHi Dave, please use form L-1 from the intranet.\n\n"
        "On Mon, 3 Mar 2025, Dave Miller wrote:\n> Which form do I need?\n"
    )
    assert step(runtime, member_reply(smtp, ALICE, answer)) == "update_ticket"
    relay = mails_to(smtp, "dave@example.com")[-1]
    assert kind_of(relay) == "reply_relay"
    assert relay["From"].addresses[0].addr_spec == "hr@example.com"
    assert relay["Subject"].startswith("[HR-1]")
    assert relay["In-Reply-To"] == "<req-1@example.com>"
    assert "please use form L-1" in text_of(relay)
    assert "#priority" not in text_of(relay) and "Which form do I need" not in text_of(relay)
    view = shown(runtime)
    assert (view["status"], view["priority"]) == ("open", "high")
    with runtime.db.reader() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket is not None and ticket.first_response_at is not None

    step(runtime, reply(DAVE, "Thanks! Where do I send it when it is filled in?"))
    to_owner = mails_to(smtp, "alice@example.com")[-1]
    assert kind_of(to_owner) == "reply_relay" and "Where do I send it" in text_of(to_owner)
    assert "Dave Miller <dave@example.com> wrote on ticket HR-1" in text_of(to_owner)

    seen = len(mails_to(smtp, "dave@example.com"))
    step(runtime, member_reply(smtp, ALICE, "#resolve\nSend it to payroll, done."))
    assert kinds_since(smtp, "dave@example.com", seen) == ["feedback_request", "reply_relay"]
    assert shown(runtime)["status"] == "resolved"

    step(runtime, reply(DAVE, "4 good job\n\n> How did we do?"))
    view = shown(runtime)
    assert (view["status"], view["rating"], view["rating_comment"]) == ("resolved", 4, "good job")
    assert view["events"][-1]["kind"] == "feedback"

    step(runtime, reply(DAVE, "Sorry, the form has no field for the start date."))
    view = shown(runtime)
    assert view["status"] == "open"
    assert "reopened" in view["events"][-1]["detail"] and view["events"][-1]["kind"] == "status"

    seen = len(mails_to(smtp, "dave@example.com"))
    step(runtime, member_reply(smtp, ALICE, "#close"))
    assert shown(runtime)["status"] == "closed"
    assert kinds_since(smtp, "dave@example.com", seen) == ["status_update"]

    assert step(runtime, reply(DAVE, "One more question about my leave.")) == "new_ticket"
    old, new = shown(runtime), shown(runtime, "HR-2")
    assert (old["links"], new["links"]) == (["HR-2"], ["HR-1"])
    assert new["requester"] == "dave@example.com" and new["subject"] == "Parental leave"
    ack = mails_to(smtp, "dave@example.com")[-1]
    assert kind_of(ack) == "acknowledgement" and ack["Subject"].startswith("[HR-2]")
    assert "[HR-1]" not in ack["Subject"]

    for view in (old, new):
        for event in view["events"]:
            assert event["kind"] in EVENT_KINDS and event["actor"] and event["at"]
    kinds = [e["kind"] for e in old["events"]]
    assert kinds[:4] == ["created", "assigned", "reply", "priority"]
    assert {"reply", "status", "feedback"} <= set(kinds)


def _with_files(
    sender: str,
    subject: str,
    body: str,
    files: list[tuple[str, bytes]],
    in_reply_to: str | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "hr@example.com", subject
    message["Message-ID"] = email.utils.make_msgid(domain="example.com")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    message.set_content(body)
    for name, data in files:
        message.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return message.as_bytes()


def test_files_on_a_member_reply_reach_the_requester(
    database_url: str, smtp: ScriptedSmtpServer
) -> None:
    from tests.support.harness import runtime_for

    runtime = runtime_for(database_url, smtp.port, max_attachment_bytes=4000)
    try:
        open_request(runtime, smtp)
        form = b"%PDF-1.4 leave form " + bytes(range(256))
        raw = _with_files(
            ALICE,
            "Re: [HR-1] Parental leave",
            "Here is the form.",
            [("leave-form.pdf", form), ("handbook.pdf", b"x" * 5000)],
            in_reply_to=str(mails_to(smtp, "alice@example.com")[-1]["Message-ID"]),
        )
        step(runtime, raw)
        relay = mails_to(smtp, "dave@example.com")[-1]
        files = {part.get_filename(): part.get_content() for part in relay.iter_attachments()}
        assert files == {"leave-form.pdf": form}
        assert "handbook.pdf (not attached: too large to keep)" in text_of(relay)
        assert "leave-form.pdf" in text_of(relay)
    finally:
        runtime.close()


def test_a_note_stays_internal(runtime: Runtime, smtp: ScriptedSmtpServer) -> None:
    open_request(runtime, smtp)
    step(
        runtime, member_reply(smtp, ALICE, "#note\nChecked with payroll, waiting for their answer.")
    )
    assert [kind_of(m) for m in mails_to(smtp, "dave@example.com")] == ["acknowledgement"]
    view = shown(runtime)
    note = view["messages"][-1]
    assert note["internal"] is True and note["text"].startswith("Checked with payroll")
    assert [e["kind"] for e in view["events"]][-2:] == ["note", "status"]
    assert view["status"] == "open"


def test_assign_and_take_move_the_ticket(runtime: Runtime, smtp: ScriptedSmtpServer) -> None:
    open_request(runtime, smtp)
    step(runtime, member_reply(smtp, ALICE, "#assign bob@example.com"))
    view = shown(runtime)
    assert view["owner"] == "bob@example.com"
    assert view["events"][-2]["kind"] == "assigned"
    assert view["events"][-2]["actor"] == "alice@example.com"
    [handover] = mails_to(smtp, "bob@example.com")
    assert kind_of(handover) == "assignment" and "[HR-1]" in handover["Subject"]

    step(runtime, member_reply(smtp, ALICE, "#take"))
    assert shown(runtime)["owner"] == "alice@example.com"
    # Taking it yourself needs no mail to yourself beyond the first assignment.
    assert [kind_of(m) for m in mails_to(smtp, "alice@example.com")] == ["assignment"]
    step(runtime, member_reply(smtp, ALICE, "#assign bob"))  # a member's bare name is enough
    assert shown(runtime)["owner"] == "bob@example.com"
    assert len(mails_to(smtp, "bob@example.com")) == 2


def test_a_member_may_still_answer_on_a_closed_ticket(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp)
    step(runtime, member_reply(smtp, ALICE, "#close"))
    outcome = step(
        runtime, member_reply(smtp, ALICE, "#status open\nForgot: the form is also on paper.")
    )
    assert outcome == "update_ticket"
    view = shown(runtime)
    assert view["status"] == "closed" and view["links"] == []
    relays = [m for m in mails_to(smtp, "dave@example.com") if kind_of(m) == "reply_relay"]
    assert ["also on paper" in text_of(m) for m in relays] == [True]
    [refusal] = [m for m in mails_to(smtp, "alice@example.com") if kind_of(m) == "command_result"]
    assert "closed ticket cannot become open" in text_of(refusal)


def test_no_mail_goes_to_a_no_reply_requester(runtime: Runtime, smtp: ScriptedSmtpServer) -> None:
    alert = build_mail("Monitoring <noreply@example.com>", "hr@example.com", "Disk full", "92%")
    step(runtime, alert)
    step(runtime, member_reply(smtp, ALICE, "#resolve\nCleaned up."))
    assert mails_to(smtp, "noreply@example.com") == []
    assert shown(runtime)["status"] == "resolved"


def test_assigning_to_someone_outside_the_department_changes_nothing(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp)
    before = shown(runtime)
    step(runtime, member_reply(smtp, ALICE, "#assign stranger@x.example"))
    after = shown(runtime)
    for key in ("owner", "status", "priority", "events", "updated_at"):
        assert after[key] == before[key], key
    inbound = [m for m in after["messages"] if m["direction"] == "in"]
    assert inbound == [m for m in before["messages"] if m["direction"] == "in"]
    answer = mails_to(smtp, "alice@example.com")[-1]
    assert kind_of(answer) == "command_result"
    assert "stranger@x.example is not a member of HR" in text_of(answer)


def test_status_pending_and_open_are_told_to_the_requester_and_watchers(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp, headers={"Cc": "Erika Boss <erika@example.com>"})
    step(runtime, member_reply(smtp, ALICE, "#status pending\nWe need your start date first."))
    for person in ("dave@example.com", "erika@example.com"):
        kinds = [kind_of(m) for m in mails_to(smtp, person)]
        assert "status_update" in kinds and "reply_relay" in kinds, person
    update = next(m for m in mails_to(smtp, "dave@example.com") if kind_of(m) == "status_update")
    assert "Alice Archer has put your request HR-1 on hold" in text_of(update)
    assert "alice@example.com" not in text_of(update)
    assert "reply to this mail" in text_of(update)

    step(runtime, reply(DAVE, "I start on 1 June."))
    view = shown(runtime)
    assert view["status"] == "open" and "answered" in view["events"][-1]["detail"]
    step(runtime, member_reply(smtp, ALICE, "#status pending"))
    step(runtime, member_reply(smtp, ALICE, "#status open"))
    updates = [m for m in mails_to(smtp, "erika@example.com") if kind_of(m) == "status_update"]
    assert "Alice Archer has taken Dave Miller's request HR-1 off hold" in text_of(updates[-1])


def test_a_watcher_reply_goes_to_the_owner_without_reopening(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp, headers={"Cc": "erika@example.com"})
    step(runtime, member_reply(smtp, ALICE, "#resolve\nDone."))
    step(runtime, reply("erika@example.com", "Thanks from me too, Dave's manager."))
    view = shown(runtime)
    assert view["status"] == "resolved"
    # Kept for the department: it went to the owner only, so the requester's page and
    # the quotes a member may keep in an answer to the requester leave it out.
    assert view["messages"][-1]["internal"] is True
    assert "Dave's manager" in text_of(mails_to(smtp, "alice@example.com")[-1])
