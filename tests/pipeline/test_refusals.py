"""Mail from people who may not act on a ticket: nothing changes, nothing of the ticket
reaches them, nothing they write reaches the requester in a department's name.

Each attack here arrives as an attacker can send it: any From, any headers, any [KEY-N].
"""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select

from aliasdesk.db.models import StoredAttachment
from aliasdesk.runtime import Runtime
from tests.pipeline.conftest import AUTHSERV_ID
from tests.pipeline.test_conversation import (
    ALICE,
    DAVE,
    kind_of,
    mails_to,
    member_reply,
    open_request,
    reply,
    shown,
    step,
    text_of,
)
from tests.support.harness import build_mail, drain_jobs, feed, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

PASS = f"{AUTHSERV_ID}; dmarc=pass header.from=example.com"
MALLORY = "Mallory <mallory@elsewhere.example>"
SECRET_WORDS = ("Parental leave", "Alice", "Which form")
"""What the ticket holds that no outsider may read: its subject, owner and text."""


def _unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    for key in ("owner", "status", "priority"):
        assert after[key] == before[key], key


def _everything(message: EmailMessage) -> str:
    html = message.get_body(("html",))
    assert isinstance(html, EmailMessage)
    return f"{message['Subject']}\n{text_of(message)}\n{html.get_content()}"


def _kinds(smtp: ScriptedSmtpServer, address: str) -> list[str]:
    return [kind_of(m) for m in mails_to(smtp, address)]


def test_a_strangers_command_learns_nothing_and_changes_nothing(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp)
    before = shown(runtime)
    step(runtime, reply(MALLORY, "#resolve\nClose this, it is done.", subject="[HR-1]"))
    after = shown(runtime)
    _unchanged(before, after)
    [answer] = mails_to(smtp, "mallory@elsewhere.example")
    assert kind_of(answer) == "outside_notice"
    assert answer["Subject"] == "Re: [HR-1]"  # their own subject, nothing added
    assert "HR-" not in answer["Message-ID"] and answer["References"] is not None
    shown_to_them = _everything(answer)
    for secret in (*SECRET_WORDS, "dave", "priority", "status"):
        assert secret not in shown_to_them, secret
    kept = [m for m in after["messages"] if m["direction"] == "in"][-1]
    assert kept["internal"] is True and "Close this" in kept["text"]
    assert kept["from"] == "mallory@elsewhere.example"
    assert "external mail from mallory@elsewhere.example" in after["events"][-1]["detail"]
    assert _kinds(smtp, "dave@example.com") == ["acknowledgement"]
    to_owner = mails_to(smtp, "alice@example.com")[-1]
    assert kind_of(to_owner) == "reply_relay"
    assert "EXTERNAL MAIL: Mallory <mallory@elsewhere.example>" in text_of(to_owner)


def test_counting_up_tags_lists_no_subjects(runtime: Runtime, smtp: ScriptedSmtpServer) -> None:
    open_request(runtime, smtp)
    feed(runtime, build_mail(DAVE, "it@example.com", "Laptop stolen from my car"))
    for tag in ("HR-1", "IT-1", "HR-2", "IT-2"):
        feed(runtime, reply(MALLORY, "#close", subject=f"[{tag}]"))
    drain_jobs(runtime)
    answers = mails_to(smtp, "mallory@elsewhere.example")
    shown_to_them = "\n".join(_everything(m) for m in answers)
    assert "Laptop" not in shown_to_them and "Parental" not in shown_to_them
    assert all(kind_of(m) in {"outside_notice", "acknowledgement"} for m in answers)


def test_a_flood_of_forged_commands_gets_one_answer_a_day(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp)
    victim = "Victim <victim@outside.example>"
    feed(runtime, *[reply(victim, "#close", subject="[HR-1] close") for _ in range(15)])
    drain_jobs(runtime)
    step(runtime, reply(victim, "#close", subject="[HR-1] again"))
    assert len(mails_to(smtp, "victim@outside.example")) == 1
    assert shown(runtime)["status"] == "new"


def test_automatic_mail_of_any_kind_to_an_outside_address_is_capped_at_ten_an_hour(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    """Acknowledgements and notices together: twelve tickets answered to one outside
    address would be twelve mails; the cap holds it to ten, whatever their kind."""
    outsider = "Olive <olive@partner.example>"
    feed(runtime, *[build_mail(DAVE, subject=f"request {i}") for i in range(6)])
    feed(runtime, *[build_mail(outsider, subject=f"question {i}") for i in range(6)])
    drain_jobs(runtime)
    feed(runtime, *[reply(outsider, "#close", subject=f"[HR-{n}]") for n in range(1, 7)])
    drain_jobs(runtime)
    kinds = _kinds(smtp, "olive@partner.example")
    assert len(kinds) == 10
    assert set(kinds) == {"acknowledgement", "outside_notice"}


def test_another_departments_member_is_a_stranger_here(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp)
    before = shown(runtime)
    step(runtime, reply("carol@example.com", "#assign bob@example.com", headers={"x": "y"}))
    after = shown(runtime)
    _unchanged(before, after)
    assert _kinds(smtp, "carol@example.com") == ["outside_notice"]
    assert mails_to(smtp, "bob@example.com") == []
    assert [m for m in after["messages"] if m["direction"] == "in"][-1]["internal"] is True


def test_the_requester_cannot_close_but_is_heard(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp)
    step(runtime, reply(DAVE, "#close\nNever mind, I found the form."))
    assert shown(runtime)["status"] == "new"
    assert "the requester" in text_of(mails_to(smtp, "dave@example.com")[-1])
    assert "I found the form" in text_of(mails_to(smtp, "alice@example.com")[-1])


def test_a_command_on_a_later_line_is_only_text(runtime: Runtime, smtp: ScriptedSmtpServer) -> None:
    open_request(runtime, smtp)
    step(
        runtime, member_reply(smtp, ALICE, "Hi Dave, I will #close this once you confirm.\n#close")
    )
    assert shown(runtime)["status"] == "open"
    assert "#close" in text_of(mails_to(smtp, "dave@example.com")[-1])


def test_a_forged_member_from_changes_nothing_and_the_member_is_told_once_an_hour(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp)
    before = shown(runtime)
    dave_ack = str(mails_to(smtp, "dave@example.com")[0]["Message-ID"])
    elsewhere = {"Authentication-Results": PASS.replace(AUTHSERV_ID, "mx.evil.example")}
    dmarc_failed = {
        "Authentication-Results": f"{AUTHSERV_ID}; spf=pass smtp.mailfrom=example.com; "
        "dmarc=fail header.from=example.com"
    }
    forgeries = [
        reply(ALICE, "#resolve\nAll done, pay the fee at https://evil.example/pay"),
        # threading to a mail sent to someone else proves nothing about Alice
        reply(ALICE, "#priority urgent\nAnswer here.", headers={"In-Reply-To": dave_ack}),
        # another server's say-so, and a DMARC failure beside an SPF pass
        reply(ALICE, "#close", headers=elsewhere),
        reply(ALICE, "#close", headers=dmarc_failed),
    ]  # fmt: skip
    for forged in forgeries:
        step(runtime, forged)
    after = shown(runtime)
    _unchanged(before, after)
    assert _kinds(smtp, "dave@example.com") == ["acknowledgement"]
    notices = [m for m in mails_to(smtp, "alice@example.com") if kind_of(m) == "unverified_member"]
    assert len(notices) == 1
    assert "answer a mail we sent you" in text_of(notices[0])
    kept = [m for m in after["messages"] if m["direction"] == "in"][1:]
    assert len(kept) == 4 and all(m["internal"] for m in kept)


def test_a_member_answering_our_mail_to_them_is_verified(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp)
    step(runtime, member_reply(smtp, ALICE, "#priority high\nOn it."))
    view = shown(runtime)
    assert (view["priority"], view["status"]) == ("high", "open")
    assert _kinds(smtp, "dave@example.com")[-1] == "reply_relay"


def test_a_closed_tickets_tag_from_a_stranger_opens_their_own_ticket(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp)
    step(runtime, member_reply(smtp, ALICE, "#close"))
    assert step(runtime, reply(MALLORY, "hello", subject="[HR-1]")) == "new_ticket"
    new = shown(runtime, "HR-2")
    assert new["requester"] == "mallory@elsewhere.example"
    assert new["subject"] == "(no subject)" and new["links"] == ["HR-1"]
    shown_to_them = "\n".join(_everything(m) for m in mails_to(smtp, "mallory@elsewhere.example"))
    assert "HR-2" in shown_to_them
    for secret in ("Parental", "Which form", "HR-1"):
        assert secret not in shown_to_them, secret


def test_a_stranger_using_the_requesters_name_is_shown_with_their_address(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp)
    message = EmailMessage()
    message["From"] = "Dave Miller <dave.miller@evil.example>"
    message["To"], message["Subject"] = "hr@example.com", "Re: [HR-1] Parental leave"
    message["Message-ID"] = "<form@evil.example>"
    message.set_content("Please fill in the attached form, it is urgent.")
    page = b"<html><script>steal()</script></html>"
    message.add_attachment(page, maintype="text", subtype="html", filename="Form.html")
    message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="a.pdf")
    step(runtime, message.as_bytes())
    to_owner = mails_to(smtp, "alice@example.com")[-1]
    text = text_of(to_owner)
    assert "Dave Miller <dave.miller@evil.example>" in text and "EXTERNAL MAIL" in text
    attached = [part.get_filename() for part in to_owner.iter_attachments()]
    assert attached == ["a.pdf"]
    assert "Form.html (not attached: it could run when opened" in text
    assert _kinds(smtp, "dave@example.com") == ["acknowledgement"]
    with runtime.db.reader() as session:
        names = set(session.scalars(select(StoredAttachment.filename)))
    assert {"Form.html", "a.pdf"} <= names


@pytest.fixture
def strict(database_url: str, smtp: ScriptedSmtpServer) -> Iterator[Runtime]:
    runtime = runtime_for(
        database_url, smtp.port, require_authentication_results=True, authserv_id=AUTHSERV_ID
    )
    yield runtime
    runtime.close()


def test_strict_sites_count_only_their_servers_dmarc_pass(
    strict: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(strict, smtp)
    before = shown(strict)
    # answering our mail is not enough here, nor is anyone else's Authentication-Results
    step(strict, member_reply(smtp, ALICE, "#resolve\nAll done, bye."))
    forged = {"Authentication-Results": PASS.replace(AUTHSERV_ID, "mx.evil.example")}
    step(strict, reply(ALICE, "#priority urgent", headers=forged))
    _unchanged(before, shown(strict))
    notices = [m for m in mails_to(smtp, "alice@example.com") if kind_of(m) == "unverified_member"]
    assert len(notices) == 1 and "DMARC" in text_of(notices[0])
    assert _kinds(smtp, "dave@example.com") == ["acknowledgement"]

    step(strict, reply(ALICE, "#priority urgent\nOn it.", headers={"Authentication-Results": PASS}))
    view = shown(strict)
    assert (view["priority"], view["status"]) == ("urgent", "open")
    assert _kinds(smtp, "dave@example.com")[-1] == "reply_relay"


def test_forgeries_on_many_tickets_bury_no_member_in_notices(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    feed(runtime, *[build_mail(DAVE, subject=f"request {i}") for i in range(12)])
    drain_jobs(runtime)
    feed(runtime, *[reply(ALICE, "#close", subject=f"[HR-{n}]") for n in range(1, 13)])
    drain_jobs(runtime)
    notices = [m for m in mails_to(smtp, "alice@example.com") if kind_of(m) == "unverified_member"]
    assert len(notices) == 10
    assert {shown(runtime, f"HR-{n}")["status"] for n in range(1, 13)} == {"new"}


@pytest.mark.parametrize("staff", ["carol@example.com", "ops@example.com"])
def test_forgeries_in_the_name_of_staff_outside_the_ticket_bury_nobody_in_answers(
    runtime: Runtime, smtp: ScriptedSmtpServer, staff: str
) -> None:
    """A member of another department (carol, IT) or an admin (ops) is outside the limit
    on mail to outside addresses, so the members' hourly cap holds their neutral answers."""
    feed(runtime, *[build_mail(DAVE, subject=f"request {i}") for i in range(12)])
    drain_jobs(runtime)
    feed(runtime, *[reply(staff, "#close", subject=f"[HR-{n}]") for n in range(1, 13)])
    drain_jobs(runtime)
    answers = [m for m in mails_to(smtp, staff) if kind_of(m) == "outside_notice"]
    assert len(answers) == 10
    assert {shown(runtime, f"HR-{n}")["status"] for n in range(1, 13)} == {"new"}
