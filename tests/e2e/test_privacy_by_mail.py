"""Privacy on tickets that came in by mail: a sick note with its file APPENDed to a real
IMAP mailbox (pymap and Dovecot), answered through a real SMTP sink, on SQLite and
PostgreSQL; then what an admin runs (``privacy export``, ``privacy erase``,
``report --json``) and the daily retention run, its clock moved on instead of waited for.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy import select

from aliasdesk.db.models import InboundRaw
from aliasdesk.services.privacy import NOBODY, REMOVED, retention_if_due
from tests.support.harness import build_mail
from tests.support.mail_desk import MailDesk, answer

DAVE = "Dave Miller <dave@example.com>"
ALICE = "Alice Archer <alice@example.com>"
NOTE = b"%PDF-1.4 doctor's note for Dave Miller"
QUOTED = "On Monday, Dave Miller wrote:\n> My diagnosis is influenza; the note is attached."


def sick_note() -> bytes:
    mail = EmailMessage()
    mail["From"] = DAVE
    mail["To"] = "hr@example.com"
    mail["Subject"] = "Sick note"
    mail["Message-ID"] = "<sick-note@example.com>"
    mail.set_content("My diagnosis is influenza; the note is attached.")
    mail.add_attachment(NOTE, maintype="application", subtype="pdf", filename="note.pdf")
    return mail.as_bytes()


def open_tickets(desk: MailDesk, *, closed: bool) -> None:
    """HR-1: Dave's sick note, answered, resolved, rated 5 (and closed when asked).
    IT-1: Erin's request with Dave copied, and Dave's own words in it."""
    first = desk.send(sick_note())
    [assignment] = first.to("alice@example.com")
    cc = {"Cc": DAVE}
    desk.send(build_mail("Erin Wood <erin@example.com>", "it@example.com", "VPN", "It drops.",
                         headers=cc))  # fmt: skip
    desk.send(build_mail(DAVE, "it@example.com", "Re: [IT-1] VPN", "Mine drops too."))
    desk.send(answer(assignment, ALICE, "Get well soon, Dave."))
    sent = desk.send(answer(assignment, ALICE, "#resolve\n\n" + QUOTED))
    [feedback] = sent.to("dave@example.com")
    desk.send(answer(feedback, DAVE, "5 thanks"))
    if closed:
        desk.send(answer(assignment, ALICE, "#close"))


def raw_mail(desk: MailDesk) -> bytes:
    """Every mail taken in, as the database keeps it."""
    with desk.runtime.db.reader() as session:
        return b"".join(session.scalars(select(InboundRaw.raw)))


def report(desk: MailDesk) -> list[dict[str, Any]]:
    result = desk.cli("report", "--json")
    assert result.returncode == 0, result.stderr
    groups: list[dict[str, Any]] = json.loads(result.stdout)["groups"]
    return groups


def test_export_holds_what_came_by_mail_and_the_file_as_it_arrived(
    mail_desk: MailDesk, tmp_path: Path
) -> None:
    desk = mail_desk
    open_tickets(desk, closed=False)
    out = tmp_path / "dave"
    result = desk.cli("privacy", "export", "dave@example.com", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "2 ticket(s) about dave@example.com; 1 file(s)" in result.stdout
    data = json.loads((out / "export.json").read_text())
    [requested] = data["tickets_requested"]
    assert requested["ref"] == "HR-1" and "influenza" in json.dumps(requested)
    assert "Get well soon" in json.dumps(requested)
    assert [m["ticket"] for m in data["messages_in_other_tickets"]] == ["IT-1"]
    assert "Mine drops too." in json.dumps(data["messages_in_other_tickets"])
    assert data["copied_on"] == ["IT-1"]
    assert len(data["mail_received"]) == 3  # the sick note, his IT answer, his rating
    assert (out / "files" / "file-1").read_bytes() == NOTE
    assert "It drops." not in json.dumps(data) and "erin" not in json.dumps(data)


def test_erase_anonymises_what_came_by_mail_and_keeps_the_figures(mail_desk: MailDesk) -> None:
    desk = mail_desk
    open_tickets(desk, closed=False)
    before = report(desk)
    assert [(g["key"], g["tickets_in"], g["rating"]["count"]) for g in before] == [
        ("HR", 1, 1),
        ("IT", 1, 0),
    ]

    result = desk.command("privacy", "erase", "dave@example.com")  # as an admin runs it
    assert result.returncode == 0, result.stderr
    assert "erased dave@example.com from 2 ticket(s): HR-1, IT-1" in result.stdout
    hr, it = desk.show("HR-1"), desk.show("IT-1")
    assert (hr["requester"], hr["status"], hr["rating"]) == (NOBODY, "closed", 5)
    assert hr["attachments"][0]["filename"] == REMOVED
    for word in ("influenza", "dave", "Dave", "Sick note", "Get well"):
        assert word not in json.dumps(hr), word
    assert (it["requester"], it["watchers"]) == ("erin@example.com", [])
    assert "Mine drops too." not in json.dumps(it) and "dave" not in json.dumps(it)
    assert "It drops." in json.dumps(it)  # Erin's words are hers
    logged = desk.cli("mail", "list", "--json").stdout
    assert "dave" not in logged and "Sick note" not in logged
    assert b"influenza" not in raw_mail(desk) and b"It drops." in raw_mail(desk)
    assert report(desk) == before


def test_retention_anonymises_a_closed_ticket_once_its_days_are_up(mail_desk: MailDesk) -> None:
    desk = mail_desk
    open_tickets(desk, closed=True)
    before = report(desk)
    config, now = desk.runtime.routing.current(), datetime.now(UTC)

    assert retention_if_due(desk.runtime.db, config, now + timedelta(days=29)) == []
    assert desk.show("HR-1")["requester"] == "dave@example.com"
    assert retention_if_due(desk.runtime.db, config, now + timedelta(days=31)) == ["HR-1"]
    assert retention_if_due(desk.runtime.db, config, now + timedelta(days=31, hours=1)) == []

    hr = desk.show("HR-1")
    assert (hr["requester"], hr["subject"], hr["status"], hr["rating"]) == (
        NOBODY,
        REMOVED,
        "closed",
        5,
    )
    assert {m["text"] for m in hr["messages"]} == {""}
    assert hr["attachments"][0]["filename"] == REMOVED
    assert hr["events"][-1]["kind"] == "anonymised"
    assert "influenza" not in json.dumps(hr) and "dave" not in json.dumps(hr)
    assert b"influenza" not in raw_mail(desk) and b"Sick note" not in raw_mail(desk)
    assert "Sick note" not in desk.cli("mail", "list", "--json").stdout
    assert desk.show("IT-1")["watchers"] == ["dave@example.com"]  # IT keeps no retention
    assert report(desk) == before
