"""Delivery reports about mail aliasdesk sent: recorded on the ticket, the delivery marked
failed, the owner told; forged ones change nothing anyone outside can see. On SQLite and
PostgreSQL, with the report shapes of real mail systems from ../shared/corpus.

A corpus report is about somebody else's mail, so each case opens a ticket for the address
that report says failed, then puts the Message-ID of our acknowledgement where the report
names the original one. Nothing else in the bytes changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from aliasdesk.db.models import Delivery, InboundMail
from aliasdesk.inbound.explain import explain
from aliasdesk.runtime import Runtime
from aliasdesk.services.attention import retry_deliveries
from aliasdesk.services.delivery_batch import record_sent_many
from tests.pipeline.test_conversation import kind_of, mails_to, shown, step, text_of
from tests.support.corpus import CORPUS, require_corpus
from tests.support.dsn import delivery_status_report
from tests.support.harness import ROUTING, build_mail, drain_jobs, feed, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

require_corpus()


@dataclass(frozen=True)
class Shape:
    """One corpus report: the original Message-ID it names, the address that failed."""

    path: str
    original_id: str
    address: str
    action: str
    status: str


SHAPES = [
    # RFC 3464 multipart/report, the original as message/rfc822
    Shape(
        "sisimai/bsd/rfc3464-01.eml",
        "E1C50F1B-1C83-4820-BC36-AC6FBFBE8568@example.org",
        "userunknown@bouncehammer.jp",
        "failed",
        "5.1.1",
    ),
    # Postfix "Undelivered Mail Returned to Sender"
    Shape(
        "zammad/mail/mail033-undelivered-mail-returned-to-sender.box",
        "20150830145601.30.608881@edenhofer.zammad.com",
        "not_existing@znuny.com",
        "failed",
        "5.1.1",
    ),
    # only the original's headers come back, as text/rfc822-headers
    Shape(
        "sisimai/bsd/lhost-sendmail-26.eml",
        "0400551B-27D1-4BE9-BDC8-A7C65147AFC9@example.org",
        "this-local-part-does-not-exist-on-the-system@gol.com",
        "failed",
        "5.1.1",
    ),
    Shape(
        "sisimai/bsd/lhost-exchange2007-07.eml",
        "QCw92c-juIk7Y-w6@neko.example.com",
        "kijitora@example.jp",
        "failed",
        "5.1.1",
    ),
    # gave up after retrying: Action failed with a 4.x.x status
    Shape(
        "zammad/mail/mail053.box",
        "20170227103514.188.920664@help.example.com",
        "john_example@example.com",
        "failed",
        "4.4.1",
    ),
    # plain text, X-Failed-Recipients, the copy below a separator line (Exim)
    Shape(
        "sisimai/bsd/lhost-exim-01.eml",
        "E1P1ce6-000Egt-GZ@e1.example.org",
        "kijitora@example.ed.jp",
        "failed",
        "5.7.0",
    ),
    # "<address>:" then the remote answer (qmail)
    Shape(
        "sisimai/bsd/lhost-qmail-01.eml",
        "000000000.9999999999999.JavaMail.postmaster@mailhub",
        "kijitora@example.ne.jp",
        "failed",
        "5.5.0",
    ),
    Shape(
        "sisimai/bsd/lhost-gmail-01.eml",
        "D992C2C3-F175-4C4D-97E2-53A90E4E5BF5@gmail.com",
        "userunknown@example.jp",
        "failed",
        "5.1.1",
    ),
    # the address inside a sentence, CRLF with stray CRs (DragonFly)
    Shape(
        "sisimai/bsd/lhost-dragonfly-01.eml",
        "66681288.e06d1.3824794@df.example.jp",
        "pseudo-local-part@google.example.com",
        "failed",
        "5.7.26",
    ),
    Shape(
        "sisimai/bsd/lhost-yahoo-01.eml",
        "6AE6249A-E7A8-4980-862C-F499F6B8E7C5@y.example.co.jp",
        "kijitora@example.org",
        "failed",
        "5.1.1",
    ),
    # multipart/report without a message/delivery-status part
    Shape(
        "sisimai/bsd/lhost-x3-01.eml",
        "fffffffffffffffffffffffffffffff@xample.org",
        "kijitora@example.com",
        "failed",
        "5.3.0",
    ),
    # delay notices: recorded, nothing marked, nobody told
    Shape(
        "zammad/mail/mail078.box",
        "20150830145601.30.608881@example.com",
        "bob.smith@example.de",
        "delayed",
        "4.4.1",
    ),
    Shape(
        "sisimai/bsd/lhost-sendmail-29.eml",
        "54341A75-5EF4-4F06-9C5D-56D36A9283FC@example.jp",
        "this-local-part-does-not-exist-on-the-system@y-mobile.ne.jp",
        "delayed",
        "4.5.0",
    ),
]


def _acknowledgement(runtime: Runtime, address: str) -> Delivery:
    with runtime.db.reader() as session:
        delivery = session.scalar(
            select(Delivery).where(
                Delivery.kind == "acknowledgement", Delivery.recipient == address
            )
        )
        assert delivery is not None
        session.expunge(delivery)
        return delivery


def _delivery(runtime: Runtime, delivery_id: int) -> Delivery:
    with runtime.db.reader() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        session.expunge(delivery)
        return delivery


def _open_for(runtime: Runtime, address: str) -> Delivery:
    request = build_mail(f"Requester <{address}>", "hr@example.com", "Leave form")
    assert step(runtime, request) == "new_ticket"
    acknowledgement = _acknowledgement(runtime, address)
    assert acknowledgement.state == "sent"
    return acknowledgement


def _last_in(view: dict[str, Any]) -> dict[str, Any]:
    """The newest inbound message (sent notices are on the ticket too)."""
    inbound: dict[str, Any] = [m for m in view["messages"] if m["direction"] == "in"][-1]
    return inbound


def _sent_count(smtp: ScriptedSmtpServer) -> int:
    return len(smtp.handler.received)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: Path(s.path).stem)
def test_a_report_in_a_real_shape_lands_on_its_ticket(
    runtime: Runtime, smtp: ScriptedSmtpServer, shape: Shape
) -> None:
    acknowledgement = _open_for(runtime, shape.address)
    ours = acknowledgement.message_id.strip("<>")
    raw = (CORPUS / shape.path).read_bytes()
    assert shape.original_id.encode() in raw
    [result] = feed(runtime, raw.replace(shape.original_id.encode(), ours.encode()))
    drain_jobs(runtime)
    assert (result.outcome, result.ticket_refs) == ("update_ticket", ("HR-1",)), result.reason

    view = shown(runtime)
    note = _last_in(view)
    assert note["internal"] is True and note["from"] == "mailer-daemon"
    for words in (shape.address, f"Action:     {shape.action}", shape.status):
        assert words in note["text"]
    assert view["status"] == "new"
    delivery = _delivery(runtime, acknowledgement.id)
    notices = [m for m in mails_to(smtp, view["owner"]) if kind_of(m) == "requester_unreachable"]
    if shape.action == "failed":
        assert delivery.state == "failed"
        assert delivery.last_error and shape.status in delivery.last_error
        [notice] = notices
        assert shape.address in text_of(notice) and notice["Subject"].startswith("[HR-1]")
    else:
        assert (delivery.state, notices) == ("sent", [])
    assert [kind_of(m) for m in mails_to(smtp, shape.address)] == ["acknowledgement"]


def test_a_bounced_mail_queued_again_is_built_again_under_its_message_id(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    """A sent mail's bytes are not kept (record_sent_many): an admin who queues a bounced
    acknowledgement again (the address was fixed) sends it built again from its facts,
    under the Message-ID the first one had, so a reply to either threads the same."""
    acknowledgement = _open_for(runtime, "dave@partner.example")
    assert acknowledgement.rendered is None
    [first] = mails_to(smtp, "dave@partner.example")
    report = delivery_status_report(acknowledgement.message_id, "dave@partner.example")
    assert step(runtime, report) == "update_ticket"
    assert _delivery(runtime, acknowledgement.id).state == "failed"

    [handled] = retry_deliveries(runtime.db, [acknowledgement.id])
    assert handled.done, handled
    drain_jobs(runtime)
    [_, again] = mails_to(smtp, "dave@partner.example")
    assert again["Message-ID"] == first["Message-ID"] == acknowledgement.message_id
    assert (kind_of(again), again["Subject"]) == (kind_of(first), first["Subject"])
    assert text_of(again) == text_of(first)
    assert _delivery(runtime, acknowledgement.id).state == "sent"


def test_the_same_failure_reported_twice_tells_the_owner_once(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    acknowledgement = _open_for(runtime, "dave@partner.example")
    first = delivery_status_report(acknowledgement.message_id, "dave@partner.example")
    assert step(runtime, first) == "update_ticket"
    assert step(runtime, first) == "duplicate"
    again = delivery_status_report(
        acknowledgement.message_id, "dave@partner.example", reporter="mx2.partner.example"
    )
    assert step(runtime, again) == "update_ticket"
    owner = shown(runtime)["owner"]
    kinds = [kind_of(m) for m in mails_to(smtp, owner)]
    assert kinds.count("requester_unreachable") == 1
    notes = [m for m in shown(runtime)["messages"] if m["from"] == "mailer-daemon"]
    assert len(notes) == 2


def test_a_bounce_of_the_owners_mail_is_recorded_without_a_notice(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    _open_for(runtime, "dave@partner.example")
    owner = shown(runtime)["owner"]
    with runtime.db.reader() as session:
        assignment = session.scalar(
            select(Delivery).where(Delivery.kind == "assignment", Delivery.recipient == owner)
        )
        assert assignment is not None
        assignment_id, message_id = assignment.id, assignment.message_id
    seen = _sent_count(smtp)
    assert step(runtime, delivery_status_report(message_id, owner)) == "update_ticket"
    assert _delivery(runtime, assignment_id).state == "failed"
    assert _sent_count(smtp) == seen
    assert f"assignment to {owner} could not be delivered" in _last_in(shown(runtime))["text"]


def test_an_unowned_tickets_department_is_told(
    database_url: str, smtp: ScriptedSmtpServer, tmp_path: Path
) -> None:
    routing = tmp_path / "routing.yaml"
    text = ROUTING.read_text()
    routing.write_text(text.replace("assignment: round_robin", "assignment: none", 1))
    runtime = runtime_for(database_url, smtp.port, routing_file=routing)
    try:
        acknowledgement = _open_for(runtime, "dave@partner.example")
        assert shown(runtime)["owner"] is None
        report = delivery_status_report(acknowledgement.message_id, "dave@partner.example")
        assert step(runtime, report) == "update_ticket"
        for member in ("alice@example.com", "bob@example.com"):
            assert [kind_of(m) for m in mails_to(smtp, member)] == ["requester_unreachable"]
    finally:
        runtime.close()


def _nothing_changed(runtime: Runtime, smtp: ScriptedSmtpServer, seen: int, sent: int) -> None:
    assert _delivery(runtime, sent).state == "sent"
    assert _sent_count(smtp) == seen
    assert shown(runtime)["status"] == "new"


def test_a_report_naming_our_mail_for_another_address_changes_nothing(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    """Whoever received our mail knows its Message-ID; they cannot fail someone else."""
    acknowledgement = _open_for(runtime, "dave@partner.example")
    seen = _sent_count(smtp)
    forged = delivery_status_report(acknowledgement.message_id, "mallory@elsewhere.example")
    [result] = feed(runtime, forged)
    drain_jobs(runtime)
    assert (result.outcome, result.ticket_refs) == ("update_ticket", ("HR-1",))
    _nothing_changed(runtime, smtp, seen, acknowledgement.id)
    note = _last_in(shown(runtime))
    assert note["internal"] is True and "nothing was changed" in note["text"]


def test_a_report_with_only_a_ticket_tag_changes_nothing(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    acknowledgement = _open_for(runtime, "dave@partner.example")
    seen = _sent_count(smtp)
    forged = delivery_status_report(
        "<made-up@attacker.example>",
        "dave@partner.example",
        subject="Undelivered Mail Returned to Sender: [HR-1] Leave form",
    )
    [result] = feed(runtime, forged)
    drain_jobs(runtime)
    assert result.outcome == "update_ticket" and "by its subject" in result.reason
    _nothing_changed(runtime, smtp, seen, acknowledgement.id)


def test_a_report_about_mail_we_never_sent_is_ignored(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    acknowledgement = _open_for(runtime, "dave@partner.example")
    seen, before = _sent_count(smtp), shown(runtime)
    report = delivery_status_report(
        "<someone-else@mail.example>", "dave@partner.example", returned_subject="Leave form"
    )
    [result] = feed(runtime, report)
    drain_jobs(runtime)
    assert result.outcome == "ignored" and "about no mail aliasdesk sent" in result.reason
    assert result.ticket_refs == ()
    _nothing_changed(runtime, smtp, seen, acknowledgement.id)
    assert shown(runtime)["messages"] == before["messages"]
    with runtime.db.reader() as session:
        logged = session.get(InboundMail, result.inbound_id)
        assert logged is not None and logged.outcome == "ignored"


def test_a_250_recorded_after_its_bounce_leaves_the_delivery_failed(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    """The report came in before the worker recorded the server's 250 (or the worker died
    in between): the failure stands, and the acknowledgement is not sent again."""
    smtp.handler.refuse["dave@partner.example"] = "451 4.3.0 Try again later"
    [opened] = feed(runtime, build_mail("Dave <dave@partner.example>", "hr@example.com"))
    drain_jobs(runtime, max_wait=1)  # the acknowledgement waits for its retry
    acknowledgement = _acknowledgement(runtime, "dave@partner.example")
    assert (opened.outcome, acknowledgement.state) == ("new_ticket", "pending")
    report = delivery_status_report(acknowledgement.message_id, "dave@partner.example")
    assert [r.outcome for r in feed(runtime, report)] == ["update_ticket"]
    with runtime.db.unit_of_work() as session:
        now = datetime.now(UTC)
        delivery = session.get(Delivery, acknowledgement.id)
        assert delivery is not None
        assert record_sent_many(session, [delivery], now) == set()
    del smtp.handler.refuse["dave@partner.example"]
    drain_jobs(runtime)
    assert _delivery(runtime, acknowledgement.id).state == "failed"
    assert mails_to(smtp, "dave@partner.example") == []
    owner = shown(runtime)["owner"]
    assert "requester_unreachable" in [kind_of(m) for m in mails_to(smtp, owner)]


def test_rules_explain_names_the_ticket_and_changes_nothing(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    acknowledgement = _open_for(runtime, "dave@partner.example")
    seen, before = _sent_count(smtp), shown(runtime)
    report = delivery_status_report(acknowledgement.message_id, "dave@partner.example")
    verdict = explain(report, runtime.routing.current(), runtime.db)
    assert (verdict["action"], verdict["ticket"]) == ("update_ticket", "HR-1")
    assert any(line.startswith("bounce: delivery-status report") for line in verdict["trace"])
    _nothing_changed(runtime, smtp, seen, acknowledgement.id)
    assert shown(runtime)["messages"] == before["messages"]


def test_a_bounced_admin_alert_is_failed_and_logged_ignored(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    """An alert is about no ticket: the report fails its delivery and is logged as ignored,
    never ``update_ticket`` naming no ticket."""
    assert step(runtime, build_mail(to="nobody@example.com")) == "quarantined"
    with runtime.db.reader() as session:
        alert = session.scalar(select(Delivery).where(Delivery.kind == "quarantine_alert"))
        assert alert is not None and alert.ticket_id is None
        alert_id, message_id, admin = alert.id, alert.message_id, alert.recipient
    seen = _sent_count(smtp)
    [result] = feed(runtime, delivery_status_report(message_id, admin))
    drain_jobs(runtime)
    assert (result.outcome, result.ticket_refs) == ("ignored", ())
    assert "no ticket" in result.reason
    assert _delivery(runtime, alert_id).state == "failed"
    assert _sent_count(smtp) == seen
