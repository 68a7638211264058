"""Retention: closed tickets of a department with ``retention:`` lose their personal data
after that long, once a day, and keep what reports count. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from aliasdesk.db.models import (
    Delivery,
    GatewayState,
    InboundMail,
    InboundRaw,
    StoredAttachment,
    Ticket,
    TicketMessage,
)
from aliasdesk.relay import inline_dispatch, relay_once
from aliasdesk.runtime import Runtime
from aliasdesk.services import reports
from aliasdesk.services.privacy import NOBODY, RetentionSchedule, retention_if_due
from aliasdesk.services.service_figures import department_figures
from tests.pipeline.conftest import AUTHSERV_ID
from tests.pipeline.test_conversation import step
from tests.pipeline.test_handover import member, request, view
from tests.support.harness import ROUTING, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

PERSONAL = ("dave", "Dave", "erin", "Erin", "influenza", "Sick note", "diagnosis")
FIGURES = ("department", "status", "priority", "owner", "created_at", "resolved_at", "rating")


def sick_note() -> bytes:
    mail = EmailMessage()
    mail["From"] = "Dave Miller <dave@example.com>"
    mail["To"] = "hr@example.com"
    mail["Cc"] = "Erin Watts <erin@partner.example>"
    mail["Subject"] = "Sick note"
    mail.set_content("My diagnosis is influenza; the note is attached.")
    mail.add_attachment(b"%PDF-1.4 doctor", maintype="application", subtype="pdf", filename="n.pdf")
    return mail.as_bytes()


@pytest.fixture
def routing_with_retention(tmp_path: Path) -> Path:
    text = ROUTING.read_text(encoding="utf-8")
    marker = "    sla: {first_response: 4h, resolution: 3d}\n"
    assert marker in text
    path = tmp_path / "routing.yaml"
    path.write_text(text.replace(marker, marker + "    retention: 30d\n", 1), encoding="utf-8")
    return path


@pytest.fixture
def kept_runtime(
    database_url: str, smtp: ScriptedSmtpServer, routing_with_retention: Path
) -> Iterator[Runtime]:
    rt = runtime_for(
        database_url, smtp.port, authserv_id=AUTHSERV_ID, routing_file=routing_with_retention
    )
    yield rt
    rt.close()


def everything_about(runtime: Runtime, ref: str) -> str:
    """The ticket as shown, with its raw mail and files, as one searchable text."""
    shown = view(runtime, ref)
    department, number = ref.split("-")
    with runtime.db.reader() as session:
        ticket = session.scalars(
            select(Ticket).where(Ticket.department == department, Ticket.number == int(number))
        ).one()
        messages = select(TicketMessage.id).where(TicketMessage.ticket_id == ticket.id)
        inbound = select(TicketMessage.inbound_id).where(TicketMessage.ticket_id == ticket.id)
        raws = session.scalars(select(InboundRaw.raw).where(InboundRaw.id.in_(inbound))).all()
        files = session.scalars(
            select(StoredAttachment.data).where(StoredAttachment.message_id.in_(messages))
        ).all()
        deliveries = session.scalars(
            select(Delivery.rendered).where(Delivery.ticket_id == ticket.id)
        ).all()
    assert raws and files and deliveries
    return json.dumps(shown) + repr(raws) + repr(files) + repr(deliveries)


def figures(runtime: Runtime, ref: str) -> dict[str, Any]:
    """What reports count of the ticket, and the department's report over its period."""
    shown = view(runtime, ref)
    counted = {key: shown[key] for key in FIGURES}
    start = datetime.now(UTC) - timedelta(days=1)
    with runtime.db.reader() as session:
        counted["report"] = department_figures(
            session, ref.split("-")[0], start, start + timedelta(days=2)
        )
    counted["first_response_at"] = shown["first_response_at"]
    counted["messages"] = [(m["direction"], m["internal"], m["at"]) for m in shown["messages"]]
    counted["events"] = [(e["kind"], e["at"]) for e in shown["events"]]
    return counted


def test_closed_tickets_past_retention_are_anonymised_once_and_keep_their_figures(
    kept_runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    runtime = kept_runtime
    step(runtime, sick_note())
    owner = view(runtime, "HR-1")["owner"]
    step(runtime, member(owner, "HR-1", "Get well soon, Dave."))
    step(runtime, member(owner, "HR-1", "#resolve"))
    step(runtime, request("Re: [HR-1] Sick note", "5 thanks"))
    step(runtime, member(owner, "HR-1", "#close"))
    step(runtime, request("Sick laptop", "It has influenza too.", to="it@example.com"))
    before = figures(runtime, "HR-1")
    assert before["rating"] == 5
    assert before["report"]["tickets_in"] == 1 and before["report"]["rating"]["count"] == 1
    assert before["report"]["first_response"]["median_s"] is not None
    config = runtime.routing.current()
    now = datetime.now(UTC)

    assert retention_if_due(runtime.db, config, now + timedelta(days=29)) == []
    assert "influenza" in everything_about(runtime, "HR-1")
    assert retention_if_due(runtime.db, config, now + timedelta(days=29, hours=1)) == []
    assert retention_if_due(runtime.db, config, now + timedelta(days=31)) == ["HR-1"]

    text = everything_about(runtime, "HR-1")
    for word in PERSONAL:
        assert word not in text, word
    with runtime.db.reader() as session:  # the command-only "#resolve" and "#close" too
        tagged = InboundMail.ticket_refs.like('%"HR-1"%')
        raws = select(InboundRaw.raw).join(InboundMail, InboundMail.id == InboundRaw.id)
        assert set(session.scalars(raws.where(tagged))) == {b""}
    shown = view(runtime, "HR-1")
    assert (shown["requester"], shown["subject"], shown["watchers"]) == (NOBODY, "(removed)", [])
    assert {m["text"] for m in shown["messages"]} == {""}
    assert {m["from"] for m in shown["messages"] if m["direction"] == "in"} == {NOBODY, owner}
    assert shown["attachments"][0]["filename"] == "(removed)"
    assert shown["events"][-1]["kind"] == "anonymised"
    after = figures(runtime, "HR-1")
    after["events"] = after["events"][:-1]
    assert after == before

    # Another department without retention keeps everything; nothing runs twice a day.
    assert view(runtime, "IT-1")["requester"] == "dave@example.com"
    assert retention_if_due(runtime.db, config, now + timedelta(days=31, hours=2)) == []
    with runtime.db.reader() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.department == "HR")).one()
        assert ticket.anonymised_at is not None
        assert reports.ticket_summary(session, ticket)["rating"] == 5


def test_open_tickets_and_recent_closed_ones_are_kept(
    kept_runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    runtime = kept_runtime
    step(runtime, sick_note())
    step(runtime, request("Second", "Still ill."))
    owner = view(runtime, "HR-2")["owner"]
    step(runtime, member(owner, "HR-2", "#close"))
    now = datetime.now(UTC)
    config = runtime.routing.current()
    assert retention_if_due(runtime.db, config, now + timedelta(days=10)) == []
    assert retention_if_due(runtime.db, config, now + timedelta(days=400)) == ["HR-2"]
    assert view(runtime, "HR-1")["requester"] == "dave@example.com"


def test_the_relay_loop_runs_retention_once_a_day(
    kept_runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    runtime = kept_runtime
    step(runtime, sick_note())
    step(runtime, member(view(runtime, "HR-1")["owner"], "HR-1", "#close"))
    long_ago = datetime.now(UTC) - timedelta(days=40)
    with runtime.db.unit_of_work() as session:
        ticket = session.scalars(select(Ticket)).one()
        ticket.updated_at = long_ago
        state = session.get(GatewayState, "retention")
        assert state is not None  # the relay looked already today and found nothing
        state.updated_at = long_ago
    runtime.retention = RetentionSchedule()  # as after a restart: the row is read again
    relay_once(runtime, inline_dispatch(runtime))
    assert view(runtime, "HR-1")["requester"] == NOBODY


def test_between_two_runs_the_relay_looks_without_asking_the_database(
    kept_runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    """The relay looks several times a second; the daily run says when the next one is
    due, and until then a look sends no SQL. A process started later reads the time
    from the stored row, so a restart does not run it twice in a day."""
    runtime = kept_runtime
    step(runtime, sick_note())
    step(runtime, member(view(runtime, "HR-1")["owner"], "HR-1", "#close"))
    config, now = runtime.routing.current(), datetime.now(UTC) + timedelta(days=2)
    schedule, seen = RetentionSchedule(), []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", count)
    try:
        assert schedule.run(runtime.db, config, now) == []  # due, nothing old enough
        assert seen, "the first look reads the stored row"
        seen.clear()
        for hours in range(1, 24):
            assert schedule.run(runtime.db, config, now + timedelta(hours=hours)) == []
        assert seen == []
        assert RetentionSchedule().run(runtime.db, config, now + timedelta(hours=1)) == []
        assert seen, "a new process reads the row, which says not yet"
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", count)
    assert schedule.run(runtime.db, config, now + timedelta(days=40)) == ["HR-1"]
