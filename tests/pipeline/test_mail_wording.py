"""What people notice in the mail they get, through the real intake and a real SMTP server,
on SQLite and PostgreSQL: the owner receives the request's files (never active ones) and
the handover note, a watcher is greeted by their own name, each department's
acknowledgement names the other's ticket, and a ticket pending on a supplier does not
ask the requester for anything."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from aliasdesk.runtime import Runtime
from aliasdesk.services import request_files
from tests.pipeline.test_conversation import kind_of, mails_to, step, text_of
from tests.support.harness import build_mail, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

ROUTING = """\
organisation: {name: Example Corp, domains: [example.com]}
departments:
  HR:
    name: Human Resources
    aliases: [hr@example.com]
    members:
      - {address: alice@example.com, name: Alice Hart}
      - bob.jones@example.com
    assignment: fixed:alice@example.com
  IT:
    name: IT Support
    aliases: [it@example.com]
    members: [{address: carol@example.com, name: Carol Diaz}]
    assignment: fixed:carol@example.com
"""
DAVE = "Dave Miller <dave@example.com>"
ALICE = "Alice <alice@example.com>"
BOB = "Robert Jones <bob.jones@example.com>"
WATCHER = "ew@partner.example.net"
OTHER_WATCHER = "sam.lee@partner.example.net"
COPIED = f'"Erin  Watts-Berg" <{WATCHER}>, {OTHER_WATCHER}'
ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@pytest.fixture
def desk(database_url: str, smtp: ScriptedSmtpServer, tmp_path: Path) -> Iterator[Runtime]:
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING)
    runtime = runtime_for(
        database_url, smtp.port, routing_file=routing, max_attachment_bytes=30_000
    )
    yield runtime
    runtime.close()


def last(smtp: ScriptedSmtpServer, address: str, kind: str) -> EmailMessage:
    found = [m for m in mails_to(smtp, address) if kind_of(m) == kind]
    assert found, f"no {kind} to {address}"
    return found[-1]


def html_of(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def member_reply(smtp: ScriptedSmtpServer, body: str, member: str = ALICE) -> bytes:
    """A member (Alice unless told) answering the assignment mail they were sent."""
    address = member.rpartition("<")[2].rstrip(">")
    assignment = last(smtp, address, "assignment")
    headers = {"In-Reply-To": str(assignment["Message-ID"])}
    return build_mail(member, "hr@example.com", "Re: [HR-1] VPN", body, headers=headers)


def with_files(files: list[tuple[str, str, bytes]]) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = DAVE, "hr@example.com", "VPN"
    message["Message-ID"] = make_msgid(domain="example.com")
    message.set_content("My VPN stopped working, screenshots attached.")
    for name, content_type, data in files:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


def test_the_owner_gets_the_request_files_but_never_active_ones(
    desk: Runtime, smtp: ScriptedSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(request_files, "OWNER_FILES_LIMIT", 30_000)
    screenshot = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 80  # 20 KB
    raw = with_files(
        [
            ("screenshot.png", "image/png", screenshot),
            ("second.png", "image/png", screenshot),  # past the 30 KB this mail may carry
            ("fix.exe", "application/octet-stream", b"MZ" + b"\0" * 500),
            ("report.html", "text/html", b"<script>alert(1)</script>"),
            ("budget.xlsm", "application/octet-stream", b"PK" + b"\0" * 500),
            ("scan.pdf", "application/pdf", b"%PDF" + b"\0" * 40_000),  # not kept at intake
        ]
    )
    assert step(desk, raw) == "new_ticket"
    assignment = last(smtp, "alice@example.com", "assignment")
    attached = {part.get_filename(): part.get_content() for part in assignment.iter_attachments()}
    assert attached == {"screenshot.png": screenshot}
    text = text_of(assignment)
    assert "  - screenshot.png, 20 KB" in text.splitlines()
    assert "second.png, 20 KB (not attached: the mail would be too large)" in text
    assert "scan.pdf, 39 KB (not attached: too large to keep)" in text
    for name in ("fix.exe", "report.html", "budget.xlsm"):
        assert f"{name}, 1 KB (not attached: it could run code when opened)" in text
        assert name in html_of(assignment)
    ack = last(smtp, "dave@example.com", "acknowledgement")
    assert list(ack.iter_attachments()) == []


def test_a_handover_note_goes_to_the_new_owner_only(
    desk: Runtime, smtp: ScriptedSmtpServer
) -> None:
    assert step(desk, build_mail(DAVE, "hr@example.com", "VPN", "My VPN is down.")) == "new_ticket"
    seen = len(mails_to(smtp, "dave@example.com"))
    note = "Please call Dave, his VPN certificate expired."
    step(desk, member_reply(smtp, f"#assign bob.jones {note}"))
    handover = last(smtp, "bob.jones@example.com", "assignment")
    text = text_of(handover)
    assert "Hello Bob Jones," in text
    assert "Alice Hart has handed ticket HR-1 over to you." in text
    assert "Alice Hart left you a note:" in text and note in text
    assert note in html_of(handover)
    for mail in mails_to(smtp, "dave@example.com")[seen:]:
        assert "VPN certificate" not in text_of(mail)
    assert mails_to(smtp, "alice@example.com")[-1]["Message-ID"] != handover["Message-ID"]

    # Bob is in the routing file without a name: his mail's display name is what he is called.
    step(desk, member_reply(smtp, "#status pending vendor", BOB))
    told = text_of(last(smtp, "dave@example.com", "status_update"))
    assert "Robert Jones has put your request HR-1 on hold for now." in told
    step(desk, member_reply(smtp, "#assign alice", BOB))
    back = text_of(last(smtp, "alice@example.com", "assignment"))
    assert "Robert Jones has handed ticket HR-1 over to you." in back


def test_status_mail_names_people_and_does_not_blame_the_requester(
    desk: Runtime, smtp: ScriptedSmtpServer
) -> None:
    request = build_mail(DAVE, "hr@example.com", "VPN", "My VPN is down.", headers={"Cc": COPIED})
    assert step(desk, request) == "new_ticket"

    step(desk, member_reply(smtp, "#status pending vendor"))
    to_dave = text_of(last(smtp, "dave@example.com", "status_update"))
    assert "Hello Dave Miller," in to_dave
    assert "Alice Hart has put your request HR-1 on hold for now." in to_dave
    assert "We are waiting on a supplier" in to_dave and "from you" not in to_dave
    to_watcher = text_of(last(smtp, WATCHER, "status_update"))
    assert "Hello Erin Watts-Berg," in to_watcher and "Hello Dave" not in to_watcher
    assert "Dave Miller's request HR-1" in to_watcher
    assert "We are waiting on a supplier" in to_watcher
    assert "Hello Sam Lee," in text_of(last(smtp, OTHER_WATCHER, "status_update"))

    step(desk, member_reply(smtp, "#status open"))
    step(desk, member_reply(smtp, "#status pending"))
    asking = text_of(last(smtp, "dave@example.com", "status_update"))
    assert "we need a little more from you" in asking and "supplier" not in asking

    step(desk, member_reply(smtp, "#resolve"))
    feedback = last(smtp, "dave@example.com", "feedback_request")
    assert "Alice Hart has marked your request HR-1" in text_of(feedback)
    for mail in mails_to(smtp, "dave@example.com") + mails_to(smtp, WATCHER):
        body = text_of(mail).split("Your request, as we received it:")[0]
        assert ADDRESS.findall(body) == [], kind_of(mail)
        assert ADDRESS.findall(html_of(mail).split("Your request, as we received it:")[0]) == []


def test_each_departments_acknowledgement_names_the_others_ticket(
    desk: Runtime, smtp: ScriptedSmtpServer
) -> None:
    request = build_mail(DAVE, "hr@example.com, it@example.com", "New starter", "Laptop + contract")
    assert step(desk, request) == "new_ticket"
    acks = {
        str(m["Subject"]).split("]")[0][1:]: m
        for m in mails_to(smtp, "dave@example.com")
        if kind_of(m) == "acknowledgement"
    }
    assert set(acks) == {"HR-1", "IT-1"}
    hr, it = text_of(acks["HR-1"]), text_of(acks["IT-1"])
    assert "You also wrote to IT Support; they are handling their part as IT-1." in hr
    assert "You also wrote to Human Resources; they are handling their part as HR-1." in it
    assert "Alice Hart has got this" in hr and "Carol Diaz has got this" in it


def test_a_ticket_opened_by_a_reply_to_a_closed_one_is_not_named(
    desk: Runtime, smtp: ScriptedSmtpServer
) -> None:
    assert step(desk, build_mail(DAVE, "hr@example.com", "VPN", "My VPN is down.")) == "new_ticket"
    step(desk, member_reply(smtp, "#close"))
    reply = build_mail(DAVE, "hr@example.com", "Re: [HR-1] VPN", "It is down again.")
    assert step(desk, reply) == "new_ticket"
    ack = last(smtp, "dave@example.com", "acknowledgement")
    assert str(ack["Subject"]).startswith("[HR-2]")
    assert "You also wrote" not in text_of(ack)
