"""Applying a delivery report to the tickets it is about (CONTRACT §5).

The bounce stage (aliasdesk.inbound.stages.bounce) decides what a report proves; this
module writes it down, in the caller's transaction: an internal message on each ticket
naming every recipient, action, status and diagnostic; ``failed`` (with the reason) on a
delivery whose failure is confirmed; and, when the address that failed was the
requester's, one ``requester_unreachable`` notice to the owner (or the department's
members), so the ticket does not wait for answers that can never arrive.

A report is anyone's claim. Only a report naming the Message-ID of a mail aliasdesk sent,
together with the address it was sent to, is *confirmed*; any other match (a ticket tag,
a reply address, a Message-ID sent to someone else) is recorded for the department only,
marked as unconfirmed, and changes no delivery and sends no mail.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery, Ticket
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.inbound.decisions import BounceMatch
from aliasdesk.mail.delivery_report import DeliveryReport, RecipientStatus
from aliasdesk.mail.model import ParsedMail
from aliasdesk.notify.catalogue import find_kind
from aliasdesk.notify.catalogue.requester_unreachable import REQUESTER_UNREACHABLE
from aliasdesk.services.notifications import MESSAGE_ID_DOMAIN, queue_notification
from aliasdesk.services.tickets import add_event, add_message, department_sender

log = logging.getLogger("aliasdesk.bounces")

BOUNCED = "bounced: "
"""How a delivery's error starts when a delivery report failed it; a 250 recorded later
(the report overtook the worker) must not turn it back into ``sent``."""
REPORTER = "mailer-daemon"
"""The actor named on ticket events a delivery report causes."""


def record_report(
    session: Session,
    config: RoutingConfig,
    report: DeliveryReport,
    match: BounceMatch,
    *,
    mail: ParsedMail,
    inbound_id: int | None,
    now: datetime,
) -> list[str]:
    """Write the report onto its tickets; returns their references, in the order met
    (none for a report about mail on no ticket, such as an admin's alert)."""
    refs: list[str] = []
    by_ticket: dict[int, list[tuple[Delivery, RecipientStatus]]] = {}
    for failure in match.confirmed:
        delivery = session.get(Delivery, failure.delivery_id)
        if delivery is None:
            continue
        _apply_status(delivery, failure.status)  # an admin alert too: it has no ticket
        if delivery.ticket_id is not None:
            by_ticket.setdefault(delivery.ticket_id, []).append((delivery, failure.status))
    for ticket_id, findings in by_ticket.items():
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            continue
        _note(session, ticket, mail, _confirmed_text(findings), inbound_id, now)
        for delivery, status in findings:
            add_event(session, ticket, "note", REPORTER, _event_detail(delivery, status), now)
            _tell_the_department(session, config, ticket, delivery, status, now)
        refs.append(ticket.ref)
    for ticket_id in match.unconfirmed_ticket_ids:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None or ticket.id in by_ticket:
            continue
        _note(session, ticket, mail, _unconfirmed_text(report, match.how), inbound_id, now)
        add_event(session, ticket, "note", REPORTER, "unconfirmed delivery report", now)
        refs.append(ticket.ref)
    return refs


def _apply_status(delivery: Delivery, status: RecipientStatus) -> None:
    """Only a failure changes the delivery: a delay or a success report is recorded on
    the ticket and nothing else (RFC 3464 §2.3.3: ``delayed`` is not final)."""
    if status.action != "failed":
        return
    delivery.state = "failed"
    delivery.last_error = f"{BOUNCED}{status.summary}"[:2000]
    log.info(
        "event=delivery_bounced delivery=%s kind=%s status=%s",
        delivery.id,
        delivery.kind,
        status.status or "-",
    )


def _note(
    session: Session,
    ticket: Ticket,
    mail: ParsedMail,
    text: str,
    inbound_id: int | None,
    now: datetime,
) -> None:
    """The report as an internal message: for the department, never relayed."""
    add_message(
        session,
        ticket,
        mail,
        text=text,
        internal=True,
        inbound_id=inbound_id,
        now=now,
        from_address=REPORTER,
        with_attachments=False,
    )


def _status_lines(status: RecipientStatus) -> list[str]:
    return [
        f"  Recipient:  {status.recipient}",
        f"  Action:     {status.action}",
        f"  Status:     {status.status or 'not given'}",
        f"  Diagnostic: {status.diagnostic or 'not given'}",
    ]


def _confirmed_text(findings: Sequence[tuple[Delivery, RecipientStatus]]) -> str:
    lines = []
    for delivery, status in findings:
        outcome = {
            "failed": "could not be delivered",
            "delayed": "is delayed; the sending server keeps trying",
        }.get(status.action, f"was reported {status.action}")
        mail = _label(delivery.kind)
        lines.append(f"Delivery report: the {mail} to {status.recipient} {outcome}.")
        lines += _status_lines(status)
        lines.append(f"  Our mail:   {delivery.message_id}")
        lines.append("")
    return "\n".join(lines).strip()


def _unconfirmed_text(report: DeliveryReport, how: str) -> str:
    """What an unproven report claims, said to be unproven: nothing was changed."""
    lines = [
        f"A delivery report points at this ticket ({how}) but names no mail aliasdesk sent "
        "to the address it reports on, so nothing was changed. It may be forged.",
    ]
    for status in report.recipients[:10]:
        lines += _status_lines(status)
    return "\n".join(lines)


def _event_detail(delivery: Delivery, status: RecipientStatus) -> str:
    return f"delivery of {_label(delivery.kind)} to {status.recipient}: {status.summary}"[:500]


def _label(kind: str) -> str:
    """A delivery's kind as the department says it: "the status update to dave@…"."""
    known = find_kind(kind)
    return known.in_words if known is not None else kind.replace("_", " ")


def _tell_the_department(
    session: Session,
    config: RoutingConfig,
    ticket: Ticket,
    delivery: Delivery,
    status: RecipientStatus,
    now: datetime,
) -> None:
    """One notice per failed delivery to the requester, to people inside the department.

    Never about a notice of this kind (the owner's own address failing must not start a
    loop of notices), never to the address that failed.
    """
    if status.action != "failed" or delivery.kind == REQUESTER_UNREACHABLE.name:
        return
    if delivery.recipient != ticket.requester.lower():
        return
    department = config.departments.get(ticket.department)
    if department is None:
        return
    people = [ticket.owner] if ticket.owner else list(department.available_members)
    facts = {
        "failed_address": delivery.recipient,
        "failed_mail": f"the {_label(delivery.kind)}",
        "failed_kind": delivery.kind,
        "delivery_status": status.status,
        "diagnostic": status.diagnostic,
    }
    for person in people:
        if person is None or person == delivery.recipient:
            continue
        if not config.is_member(person, ticket.department):
            continue  # a former member: mail about a ticket stays inside the department
        queue_notification(
            session,
            kind=REQUESTER_UNREACHABLE.name,
            recipient=person,
            sender=department_sender(ticket, config),
            cause=f"bounce:{delivery.id}",
            now=now,
            ticket=ticket,
            context=facts,
            domain=config.domains[0] if config.domains else MESSAGE_ID_DOMAIN,
        )
