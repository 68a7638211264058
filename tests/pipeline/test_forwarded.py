"""A request a verified colleague forwarded belongs to the person who wrote it; any other
forward is the forwarder's own request (CONTRACT §5)."""

from __future__ import annotations

import email.utils
from email.message import EmailMessage

from aliasdesk.runtime import Runtime
from tests.pipeline.test_conversation import kind_of, mails_to, shown, step, text_of
from tests.support.harness import build_mail
from tests.support.smtp_script import ScriptedSmtpServer

GMAIL_FORWARD = """FYI, Dave asked me this in the corridor. Can someone take it?

---------- Forwarded message ---------
From: Dave Miller <dave@example.com>
Date: Mon, 3 Mar 2025 at 09:15
Subject: Parental leave
To: Alice Archer <alice@example.com>

Hello, which form do I need for parental leave from June?
"""

VERIFIED = {"Authentication-Results": "mx.example.com; dmarc=pass header.from=example.com"}
"""What the receiving server (ALIASDESK_AUTHSERV_ID in the pipeline tests) writes."""

OUTLOOK_FORWARD = """Please handle.

-----Original Message-----
From: Miller, Dave [mailto:dave@example.com]
Sent: Monday, March 3, 2025 9:15 AM
To: Carol <carol@example.com>
Subject: Payslip question

Why is my payslip late this month?
"""


def test_a_members_forward_opens_the_ticket_for_the_original_sender(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    raw = build_mail("Alice Archer <alice@example.com>", "hr@example.com", "Fwd: Parental leave",
                     GMAIL_FORWARD, headers=VERIFIED)  # fmt: skip
    assert step(runtime, raw) == "new_ticket"
    view = shown(runtime)
    assert (view["requester"], view["subject"]) == ("dave@example.com", "Parental leave")
    first, note = view["messages"][0], view["messages"][1]
    assert first["from"] == "dave@example.com" and first["internal"] is False
    assert first["text"].startswith("Hello, which form")
    assert note["internal"] is True and "corridor" in note["text"]
    assert view["events"][0]["actor"] == "alice@example.com"
    [ack] = mails_to(smtp, "dave@example.com")
    assert kind_of(ack) == "acknowledgement" and ack["Subject"].startswith("[HR-1]")
    assert "which form do I need" in text_of(ack) and "corridor" not in text_of(ack)
    assert not [m for m in mails_to(smtp, "alice@example.com") if kind_of(m) == "acknowledgement"]


def test_an_outlook_forward_names_the_sender_in_brackets(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    raw = build_mail("carol@example.com", "hr@example.com", "FW: Payslip question",
                     OUTLOOK_FORWARD, headers=VERIFIED)  # fmt: skip
    step(runtime, raw)
    view = shown(runtime)
    assert (view["requester"], view["subject"]) == ("dave@example.com", "Payslip question")
    assert [kind_of(m) for m in mails_to(smtp, "dave@example.com")] == ["acknowledgement"]


def test_an_attached_original_is_read_from_its_own_headers(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    original = EmailMessage()
    original["From"] = "Dave Miller <dave@example.com>"
    original["To"] = "carol@example.com"
    original["Subject"] = "Broken chair"
    original["Message-ID"] = "<chair-1@example.com>"
    original.set_content("The chair in room 4 is broken.")
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = (
        "carol@example.com",
        "hr@example.com",
        "Fwd: Broken chair",
    )
    outer["Message-ID"] = email.utils.make_msgid(domain="example.com")
    outer["Authentication-Results"] = VERIFIED["Authentication-Results"]
    outer.set_content("Forwarding this one to you.")
    outer.add_attachment(original)
    step(runtime, outer.as_bytes())
    view = shown(runtime)
    assert (view["requester"], view["subject"]) == ("dave@example.com", "Broken chair")
    assert view["messages"][0]["text"] == "The chair in room 4 is broken."
    [ack] = mails_to(smtp, "dave@example.com")
    assert ack["In-Reply-To"] == "<chair-1@example.com>"


def test_a_non_member_forwarding_asks_for_themselves(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    raw = build_mail("Zoe <zoe@example.com>", "hr@example.com", "Fwd: Parental leave",
                     GMAIL_FORWARD)  # fmt: skip
    step(runtime, raw)
    view = shown(runtime)
    assert (
        view["requester"] == "zoe@example.com"
        and "Forwarded message" in view["messages"][0]["text"]
    )
    assert mails_to(smtp, "dave@example.com") == []
    assert [kind_of(m) for m in mails_to(smtp, "zoe@example.com")] == ["acknowledgement"]


def test_a_members_own_mail_with_history_stays_theirs(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    # Outlook writes "-----Original Message-----" above replies too; without a forward
    # prefix in the subject it does not make clear the request is someone else's.
    raw = build_mail("carol@example.com", "hr@example.com", "Re: Payslip question",
                     OUTLOOK_FORWARD)  # fmt: skip
    step(runtime, raw)
    assert shown(runtime)["requester"] == "carol@example.com"
    assert mails_to(smtp, "dave@example.com") == []


PHISHING_FORWARD = """Please have a look.

---------- Forwarded message ---------
From: Victim <victim@outside.example>
Subject: Your account will be closed

Sign in at https://evil.example/login to keep your account.
"""


def test_a_forged_members_forward_is_the_forwarders_own_request(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    """A forged From of a member must not make an alias write to someone the forger
    chose, with words the forger chose: without the receiving server's DMARC pass the
    forward is the "member's" own request, and the victim hears nothing."""
    forged_pass = {"Authentication-Results": "mx.evil.example; dmarc=pass header.from=example.com"}
    for headers in (
        {},
        forged_pass,
        {
            "Authentication-Results": "mx.example.com; spf=pass "
            "smtp.mailfrom=example.com; dmarc=fail header.from=example.com"
        },
    ):
        subject = "Fwd: Your account will be closed"
        raw = build_mail("Carol <carol@example.com>", "it@example.com", subject,
                         PHISHING_FORWARD, headers=headers)  # fmt: skip
        assert step(runtime, raw) == "new_ticket"
    assert mails_to(smtp, "victim@outside.example") == []
    with runtime.db.reader() as session:
        from sqlalchemy import select

        from aliasdesk.db.models import Ticket

        requesters = set(session.scalars(select(Ticket.requester)))
    assert requesters == {"carol@example.com"}
