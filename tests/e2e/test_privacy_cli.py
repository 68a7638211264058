"""``aliasdesk privacy export`` and ``erase`` as an admin runs them, on SQLite and
PostgreSQL: what one person gets, what the others keep, and every refusal said aloud."""

from __future__ import annotations

import json
import stat
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from aliasdesk.db.models import InboundRaw, TicketEvent
from aliasdesk.services.privacy import NOBODY
from tests.e2e.test_cli import cli
from tests.support.harness import ROUTING, build_mail, drain_jobs, feed, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

NOTE = b"%PDF-1.4 doctor's note"
ALICE = "alice@example.com"
VERIFIED = {"Authentication-Results": "mx.example.com; dmarc=pass header.from=example.com"}


def sick_note() -> bytes:
    mail = EmailMessage()
    mail["From"] = "Dave Miller <dave@example.com>"
    mail["To"] = "hr@example.com"
    mail["Subject"] = "Sick note"
    mail.set_content("My diagnosis is influenza.")
    mail.add_attachment(NOTE, maintype="application", subtype="pdf", filename="../../etc/x.pdf")
    return mail.as_bytes()


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    """Dave's HR ticket, Erin's IT ticket with a message from Dave in it and Dave copied."""
    with ScriptedSmtpServer() as smtp:
        runtime = runtime_for(database_url, smtp.port, authserv_id="mx.example.com")
        feed(runtime, sick_note())
        erin = {"Cc": "Dave Miller <dave@example.com>"}
        feed(runtime, build_mail("Erin <erin@example.com>", "it@example.com", "VPN", headers=erin))
        feed(runtime, build_mail("dave@example.com", "it@example.com", "Re: [IT-1] VPN", "Me too"))
        feed(
            runtime,
            build_mail(ALICE, "hr@example.com", "Re: [HR-1] x", "Get well", headers=VERIFIED),
        )
        drain_jobs(runtime)
        runtime.close()
    return {"ALIASDESK_DATABASE_URL": database_url, "ALIASDESK_ROUTING_FILE": str(ROUTING)}


def show(ref: str, env: dict[str, str]) -> dict[str, Any]:
    result = cli("tickets", "show", ref, "--json", env=env)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_export_writes_what_is_held_about_one_person_and_nothing_of_others(
    env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "dave"
    result = cli("privacy", "export", "Dave@Example.com", "-o", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert "2 ticket(s) about dave@example.com; 1 file(s)" in result.stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    data = json.loads((out / "export.json").read_text())
    assert stat.S_IMODE((out / "export.json").stat().st_mode) == 0o600
    assert [t["ref"] for t in data["tickets_requested"]] == ["HR-1"]
    assert "influenza" in json.dumps(data["tickets_requested"])
    assert [m["ticket"] for m in data["messages_in_other_tickets"]] == ["IT-1"]
    assert data["copied_on"] == ["IT-1"]
    assert len(data["mail_received"]) == 2
    assert (out / "files" / "file-1").read_bytes() == NOTE
    assert sorted(p.name for p in out.rglob("*")) == ["export.json", "file-1", "files"]
    # Erin's own request is not Dave's to read.
    assert "Erin" not in json.dumps(data) and "erin@" not in json.dumps(data)
    events = [e for e in show("HR-1", env)["events"] if e["kind"] == "privacy"]
    assert events and "dave" not in json.dumps(events)

    again = cli("privacy", "export", "dave@example.com", "-o", str(out), env=env)
    assert again.returncode == 1 and "is not an empty folder: nothing written" in again.stderr


def test_erase_anonymises_their_tickets_and_removes_them_from_others(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    result = cli("privacy", "erase", "dave@example.com", env=env)
    assert result.returncode == 0, result.stderr
    assert "erased dave@example.com from 2 ticket(s): HR-1, IT-1" in result.stdout
    hr, it = show("HR-1", env), show("IT-1", env)
    assert (hr["requester"], hr["status"]) == (NOBODY, "closed")
    assert "influenza" not in json.dumps(hr) and "dave" not in json.dumps(hr)
    assert it["requester"] == "erin@example.com" and it["watchers"] == []
    assert "dave" not in json.dumps(it) and "Me too" not in json.dumps(it)
    assert "VPN" in json.dumps(it)  # Erin's own words stay
    with ScriptedSmtpServer() as smtp:
        runtime = runtime_for(database_url, smtp.port)
        with runtime.db.reader() as session:
            raws = session.scalars(select(InboundRaw.raw).order_by(InboundRaw.id)).all()
            kinds = set(session.scalars(select(TicketEvent.kind)))
        runtime.close()
    assert b"influenza" not in b"".join(raws) and b"Me too" not in b"".join(raws)
    assert b"Erin" in b"".join(raws)
    assert {"anonymised", "privacy"} <= kinds

    after = cli("privacy", "export", "dave@example.com", "-o", str(tmp_path / "after"), env=env)
    assert after.returncode == 0, after.stderr
    assert "nothing is held about dave@example.com" in after.stdout


def test_erase_refuses_staff_and_bad_addresses_out_loud(env: dict[str, str]) -> None:
    for address, code, said in (
        ("alice@example.com", 1, "is a member, alias or admin"),
        ("hr@example.com", 1, "is a member, alias or admin"),
        ("not an address", 2, "is not a mail address"),
    ):
        result = cli("privacy", "erase", address, env=env)
        assert result.returncode == code and said in result.stderr, result.stderr
    assert show("HR-1", env)["requester"] == "dave@example.com"
    nobody = cli("privacy", "erase", "zoe@example.com", env=env)
    assert nobody.returncode == 0 and "nothing is held about zoe@example.com" in nobody.stdout
