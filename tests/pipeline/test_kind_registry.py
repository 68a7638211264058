"""A delivery names its kind by name; a name no kind declares (a row written by another
version, or edited by hand) fails that one mail with a clear reason, never the batch, and
queueing a mail of such a kind is refused before anything is written."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from aliasdesk.db.models import Delivery, Job, Ticket
from aliasdesk.notify.catalogue import UnknownKind
from aliasdesk.runtime import Runtime
from aliasdesk.services.notifications import queue_notification
from tests.support.harness import build_mail, drain_jobs, feed
from tests.support.smtp_script import ScriptedSmtpServer

OWNER = "alice@example.com"


def _add_unknown_delivery(runtime: Runtime) -> int:
    """A stored delivery and its job as an older or newer version might have left them."""
    now = datetime.now(UTC)
    with runtime.db.unit_of_work() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket is not None
        row = Delivery(
            ticket_id=ticket.id,
            kind="no_such_kind",
            cause="left-behind",
            recipient=OWNER,
            sender="hr@example.com",
            message_id="<left-behind@example.com>",
            auto_submitted="auto-generated",
            context="{}",
            created_at=now,
        )
        session.add(row)
        session.add(
            Job(kind="deliver", ticket_id=ticket.id, delivery=row, available_at=now, created_at=now)
        )
        session.flush()
        return row.id


def test_a_delivery_of_an_unknown_kind_fails_alone_with_its_reason(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    feed(runtime, build_mail())
    drain_jobs(runtime)
    received = len(smtp.handler.received)
    assert received >= 2
    unknown_id = _add_unknown_delivery(runtime)
    drain_jobs(runtime)
    assert len(smtp.handler.received) == received
    with runtime.db.reader() as session:
        unknown = session.get(Delivery, unknown_id)
        others = session.scalars(select(Delivery).where(Delivery.id != unknown_id)).all()
    assert unknown is not None and unknown.state == "failed" and unknown.rendered is None
    assert "unknown notification kind 'no_such_kind'" in (unknown.last_error or "")
    assert others and all(row.state == "sent" for row in others)


def test_queueing_a_mail_of_an_unknown_kind_is_refused(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as session, pytest.raises(UnknownKind):
        queue_notification(
            session,
            kind="no_such_kind",
            recipient=OWNER,
            sender="hr@example.com",
            cause="nowhere",
            now=datetime.now(UTC),
            domain="example.com",
        )
    with runtime.db.reader() as session:
        assert session.scalars(select(Delivery)).all() == []
