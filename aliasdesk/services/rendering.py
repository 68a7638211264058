"""From a delivery row to the bytes of the mail: the typed context, the templates, the
headers. Done once, when the delivery is first claimed; the bytes are then stored so a
retry sends exactly the same mail."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery, StoredAttachment, Ticket, TicketMessage
from aliasdesk.db.unit_of_work import work_of
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.domain.sla_clock import targets_for
from aliasdesk.mail.active_content import is_active
from aliasdesk.mail.compose import compose
from aliasdesk.notify.kinds import (
    KINDS,
    CommandOutcome,
    OutsideNoticeContext,
    TicketMailContext,
    describe_duration,
    friendly_name,
    trim_text,
)
from aliasdesk.notify.render import TemplateRenderer
from aliasdesk.services.alerts import ADMIN_KINDS, admin_context
from aliasdesk.services.bounces import NOTICE, NOTICE_FACTS
from aliasdesk.services.mail_facts import (
    actor_name,
    assigner_name,
    linked_from_same_mail,
    person_name,
    recipient_name,
)
from aliasdesk.services.request_files import attached_files, listed_files
from aliasdesk.services.tickets import department_sender

LOOP_HEADER = "X-Aliasdesk-Loop"
SENDER_ONLY_KINDS = frozenset({"outside_notice"})
"""Kinds rendered from the recipient's own mail only, never from the ticket."""
RELAY_FILES_LIMIT = 20 * 1024 * 1024
"""Total bytes of files passed on with one relayed reply; larger ones are named only."""
SMALL_INLINE_IMAGE = 16 * 1024
"""Inline images below this are signature logos and icons, not worth passing on."""

FileAttachment = tuple[str, str, bytes]


def relayed_files(
    session: Session, facts: dict[str, Any]
) -> tuple[list[FileAttachment], list[str]]:
    """The files of a relayed reply (from its stored message) and the names to list.

    Files dropped at intake for their size, or too big to pass on, are listed with a
    remark instead of silently missing.
    """
    message_id = facts.get("ticket_message_id")
    if not isinstance(message_id, int):
        return [], [str(name) for name in facts.get("attachments", [])]
    files: list[FileAttachment] = []
    names: list[str] = []
    total = 0
    rows = session.scalars(
        select(StoredAttachment)
        .where(StoredAttachment.message_id == message_id)
        .order_by(StoredAttachment.id)
    )
    withhold_active = bool(facts.get("withhold_active"))
    for row in rows:
        is_image = row.content_type.lower().startswith("image/")
        if row.inline and is_image and row.size < SMALL_INLINE_IMAGE:
            continue
        if withhold_active and is_active(row.filename, row.content_type):
            names.append(
                f"{row.filename} (not attached: it could run when opened; kept in the ticket)"
            )
        elif row.data is None:
            names.append(f"{row.filename} (not attached: too large to keep)")
        elif total + len(row.data) > RELAY_FILES_LIMIT:
            names.append(f"{row.filename} (not attached: too large to pass on)")
        else:
            total += len(row.data)
            files.append((row.filename, row.content_type, row.data))
            names.append(row.filename)
    return files, names


def preload_first_texts(session: Session, ticket_ids: Iterable[int]) -> None:
    """The opening message of each ticket a batch renders, in one query instead of one per
    mail (every notification quotes it)."""
    cache = work_of(session).known.first_texts
    wanted = [ticket_id for ticket_id in set(ticket_ids) if ticket_id not in cache]
    if not wanted:
        return
    firsts = (
        select(func.min(TicketMessage.id))
        .where(TicketMessage.ticket_id.in_(wanted))
        .group_by(TicketMessage.ticket_id)
    )
    rows = session.execute(
        select(TicketMessage.ticket_id, TicketMessage.text).where(TicketMessage.id.in_(firsts))
    )
    cache.update({ticket_id: text or "" for ticket_id, text in rows})
    for ticket_id in wanted:
        cache.setdefault(ticket_id, "")


def _first_text(session: Session, ticket: Ticket) -> str:
    cache = work_of(session).known.first_texts
    if ticket.id in cache:
        return cache[ticket.id]
    first = session.scalar(
        select(TicketMessage.text)
        .where(TicketMessage.ticket_id == ticket.id)
        .order_by(TicketMessage.id)
        .limit(1)
    )
    return first or ""


def _base(
    ticket: Ticket, config: RoutingConfig, session: Session, recipient: str
) -> dict[str, Any]:
    department = config.departments.get(ticket.department)
    return {
        "recipient": recipient,
        "recipient_name": recipient_name(session, config, ticket, recipient),
        "ref": ticket.ref,
        "subject": ticket.subject,
        "department_key": ticket.department,
        "department_name": department.name if department else ticket.department,
        "department_alias": department_sender(ticket, config),
        "requester": ticket.requester,
        "requester_name": person_name(config, ticket.requester, ticket.requester_name),
        "owner": ticket.owner,
        "owner_name": person_name(config, ticket.owner) if ticket.owner else None,
        "status": ticket.status,
        "priority": ticket.priority,
        "created_at": ticket.created_at,
        "ticket_text": trim_text(_first_text(session, ticket)),
    }


def _outcomes(lines: list[str]) -> tuple[CommandOutcome, ...]:
    result = []
    for line in lines:
        command, _, detail = line.partition(": ")
        result.append(CommandOutcome(command=command, detail=detail or command))
    return tuple(result)


def _first_response_within(ticket: Ticket, config: RoutingConfig) -> str | None:
    """The department's first-response promise for this ticket, in words ("4 hours");
    None where the department promises none, and the mail says "soon"."""
    target = targets_for(config.departments.get(ticket.department), ticket.priority)
    if target.first_response is None:
        return None
    return describe_duration(target.first_response)


def _changed_by(ticket: Ticket, config: RoutingConfig, facts: dict[str, Any]) -> str:
    return actor_name(config, ticket, facts.get("changed_by"), facts.get("changed_by_name") or "")


def _status_values(ticket: Ticket, config: RoutingConfig, facts: dict[str, Any]) -> dict[str, Any]:
    """A status mail's facts; who a pending ticket waits on only while it still waits.

    When the owner made the change, the mail calls them the same in both places.
    """
    pending = ticket.status == facts.get("new_status") == "pending"
    changed_by = _changed_by(ticket, config, facts)
    values = {
        "old_status": facts.get("old_status", ""),
        "new_status": ticket.status,
        "changed_by": changed_by,
        "waiting_on": str(facts.get("waiting_on") or "") if pending else "",
    }
    if ticket.owner and facts.get("changed_by") == ticket.owner:
        values["owner_name"] = changed_by
    return values


def build_context(
    delivery: Delivery, ticket: Ticket, config: RoutingConfig, session: Session
) -> TicketMailContext:
    facts: dict[str, Any] = json.loads(delivery.context or "{}")
    values = _base(ticket, config, session, delivery.recipient)
    kind = delivery.kind
    if kind == "acknowledgement":
        values["first_response_within"] = _first_response_within(ticket, config)
        values["linked"] = linked_from_same_mail(session, ticket, config)
    elif kind == "assignment":
        values.update(
            assigned_by=assigner_name(
                config, facts.get("assigned_by"), facts.get("assigned_by_name") or ""
            ),
            handover_note=str(facts.get("note") or ""),
            files=listed_files(session, ticket.id),
        )
    elif kind == "status_update":
        values.update(_status_values(ticket, config, facts))
    elif kind == "reply_relay":
        audience = facts.get("audience")
        if audience not in {"requester", "owner"}:
            audience = "requester" if delivery.recipient != ticket.owner else "owner"
        values.update(
            author=facts.get("author", ""),
            author_name=person_name(config, facts.get("author"), facts.get("author_name") or ""),
            reply_text=facts.get("reply_text", ""),
            attachment_names=tuple(relayed_files(session, facts)[1]),
            audience=audience,
            external=bool(facts.get("external")),
        )
    elif kind == "unverified_member":
        values.update(
            their_subject=str(facts.get("their_subject", "")),
            refused=tuple(str(c) for c in facts.get("refused", [])),
            strict=bool(facts.get("strict")),
        )
    elif kind == "command_result":
        values.update(
            applied=_outcomes(facts.get("applied", [])),
            refused=_outcomes(facts.get("refused", [])),
        )
    elif kind == "feedback_request":
        values["resolved_by"] = _changed_by(ticket, config, facts)
    elif kind in {"sla_warning", "escalation"}:
        due = datetime.fromisoformat(facts["due_at"])
        values.update(target=facts["target"], due_at=due)
        if kind == "sla_warning":
            values["remaining"] = max(due - datetime.now(UTC), timedelta())
        else:
            values["overdue_by"] = max(datetime.now(UTC) - due, timedelta())
    elif kind == NOTICE:
        values.update({key: str(facts.get(key) or "") for key in NOTICE_FACTS})
    context_type = KINDS[kind]
    context = context_type(**values)
    assert isinstance(context, TicketMailContext)
    return context


def render_delivery(
    session: Session,
    delivery: Delivery,
    config: RoutingConfig,
    renderer: TemplateRenderer,
    instance_id: str,
) -> bytes:
    """The bytes to send for ``delivery``: threaded to the requester's original mail."""
    ticket = session.get(Ticket, delivery.ticket_id) if delivery.ticket_id else None
    if delivery.kind in SENDER_ONLY_KINDS:
        return _render_outside_notice(delivery, config, ticket, renderer, instance_id)
    if ticket is None:
        if delivery.kind in ADMIN_KINDS:
            return _render_admin_alert(delivery, renderer, instance_id)
        raise ValueError(f"delivery {delivery.id} has no ticket")
    rendered = renderer.render(
        delivery.kind, build_context(delivery, ticket, config, session), ticket.department
    )
    department = config.departments.get(ticket.department)
    # Thread every mail into the requester's original conversation (RFC 5322 §3.6.4).
    origin = ticket.origin_message_id
    references = [origin] if origin else []
    files: list[FileAttachment] = []
    if delivery.kind == "reply_relay":
        files = relayed_files(session, json.loads(delivery.context or "{}"))[0]
    elif delivery.kind == "assignment":
        files = attached_files(session, ticket.id)
    return compose(
        from_address=delivery.sender,
        from_name=department.name if department else "",
        to=[delivery.recipient],
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=delivery.message_id,
        in_reply_to=references[-1] if references else None,
        references=references,
        auto_submitted=delivery.auto_submitted,
        reply_to=delivery.sender,
        extra_headers={LOOP_HEADER: instance_id},
        attachments=files,
    )


def _render_outside_notice(
    delivery: Delivery,
    config: RoutingConfig,
    ticket: Ticket | None,
    renderer: TemplateRenderer,
    instance_id: str,
) -> bytes:
    """A notice to someone outside a ticket: built from what they wrote, threaded to their
    own mail, never from the ticket (its subject, first Message-ID, owner or status)."""
    facts: dict[str, Any] = json.loads(delivery.context or "{}")
    department = config.departments.get(ticket.department) if ticket is not None else None
    name = department.name if department is not None else "aliasdesk"
    context = OutsideNoticeContext(
        recipient_name=friendly_name(delivery.recipient, facts.get("their_name") or None),
        their_subject=str(facts.get("their_subject", "")),
        department_name=name,
        department_alias=delivery.sender,
        commands=tuple(str(c) for c in facts.get("commands", [])),
    )
    rendered = renderer.render(delivery.kind, context)
    theirs = facts.get("their_message_id")
    return compose(
        from_address=delivery.sender,
        from_name=name,
        to=[delivery.recipient],
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=delivery.message_id,
        in_reply_to=theirs or None,
        references=[theirs] if theirs else [],
        auto_submitted=delivery.auto_submitted,
        reply_to=delivery.sender,
        extra_headers={LOOP_HEADER: instance_id},
    )


def _render_admin_alert(delivery: Delivery, renderer: TemplateRenderer, instance_id: str) -> bytes:
    """An alert to an admin: about no ticket, so it threads to nothing."""
    rendered = renderer.render(delivery.kind, admin_context(delivery))
    return compose(
        from_address=delivery.sender,
        from_name="aliasdesk",
        to=[delivery.recipient],
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=delivery.message_id,
        in_reply_to=None,
        references=[],
        auto_submitted=delivery.auto_submitted,
        extra_headers={LOOP_HEADER: instance_id},
    )
