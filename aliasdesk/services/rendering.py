"""From a delivery row to the bytes of the mail: the typed context, the templates, the
headers. Done once, when the delivery is first claimed; the bytes are then stored so a
retry sends exactly the same mail."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery, StoredAttachment, Ticket, TicketMessage
from aliasdesk.db.unit_of_work import work_of
from aliasdesk.domain.calendars import add_business
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.domain.sla_clock import calendar_of, targets_for
from aliasdesk.mail.active_content import is_active
from aliasdesk.mail.compose import compose
from aliasdesk.notify.catalogue import kind_named
from aliasdesk.notify.catalogue.kind import FileAttachment, InlineImage
from aliasdesk.notify.kinds import (
    LinkedTicket,
    RequestFile,
)
from aliasdesk.notify.language import _
from aliasdesk.notify.render import RenderedMail, TemplateRenderer
from aliasdesk.notify.text import trim_text
from aliasdesk.services.languages import mail_locale
from aliasdesk.services.mail_facts import (
    actor_name,
    assigner_name,
    linked_from_same_mail,
    person_name,
    preload_same_mail_links,
    recipient_name,
)
from aliasdesk.services.page_links import page_link
from aliasdesk.services.request_files import attached_files, listed_files, preload_request_files
from aliasdesk.services.tickets import department_sender

LOOP_HEADER = "X-Aliasdesk-Loop"
RELAY_FILES_LIMIT = 20 * 1024 * 1024
"""Total bytes of files passed on with one relayed reply; larger ones are named only."""
SMALL_INLINE_IMAGE = 16 * 1024
"""Inline images below this are signature logos and icons, not worth passing on."""


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
            remark = _("not attached: it could run when opened; kept in the ticket")
            names.append(f"{row.filename} ({remark})")
        elif row.data is None:
            remark = _("not attached: too large to keep")
            names.append(f"{row.filename} ({remark})")
        elif total + len(row.data) > RELAY_FILES_LIMIT:
            remark = _("not attached: too large to pass on")
            names.append(f"{row.filename} ({remark})")
        else:
            total += len(row.data)
            files.append((row.filename, row.content_type, row.data))
            names.append(row.filename)
    return files, names


_FIRST_TEXTS = select(TicketMessage.ticket_id, TicketMessage.text).where(
    TicketMessage.id.in_(
        select(func.min(TicketMessage.id))
        .where(TicketMessage.ticket_id.in_(bindparam("ids", expanding=True)))
        .group_by(TicketMessage.ticket_id)
    )
)
"""Built once: building it anew for every batch cost more than running it."""


def preload_first_texts(session: Session, ticket_ids: Iterable[int]) -> None:
    """The opening message of each ticket a batch renders, in one query instead of one per
    mail (every notification quotes it)."""
    cache = work_of(session).known.first_texts
    wanted = [ticket_id for ticket_id in set(ticket_ids) if ticket_id not in cache]
    if not wanted:
        return
    rows = session.execute(_FIRST_TEXTS, {"ids": wanted})
    cache.update({ticket_id: text or "" for ticket_id, text in rows})
    for ticket_id in wanted:
        cache.setdefault(ticket_id, "")


def preload_for_rendering(session: Session, ticket_ids: Iterable[int]) -> None:
    """What the mails of a claimed batch quote about their tickets (the opening message,
    the tickets opened from the same mail, the request's files), one query each for the
    whole batch instead of one or two per mail."""
    wanted = set(ticket_ids)
    preload_first_texts(session, wanted)
    preload_same_mail_links(session, wanted)
    preload_request_files(session, wanted)


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


class StoredDelivery:
    """A delivery row as the source its kind builds the mail's context from.

    One implementation for every kind: what differs between kinds is said by the kinds
    (``aliasdesk.notify.catalogue``), which ask this for the facts they need.
    """

    def __init__(
        self, session: Session, delivery: Delivery, ticket: Ticket | None, config: RoutingConfig
    ) -> None:
        self._session = session
        self._delivery = delivery
        self._ticket = ticket
        self._config = config
        self.facts: dict[str, Any] = json.loads(delivery.context or "{}")

    @property
    def recipient(self) -> str:
        return self._delivery.recipient

    @property
    def sender(self) -> str:
        return self._delivery.sender

    def ticket(self) -> Ticket:
        if self._ticket is None:
            raise ValueError(f"delivery {self._delivery.id} has no ticket")
        return self._ticket

    def ticket_values(self) -> dict[str, Any]:
        ticket, config = self.ticket(), self._config
        department = config.departments.get(ticket.department)
        return {
            "recipient": self.recipient,
            "recipient_name": recipient_name(self._session, config, ticket, self.recipient),
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
            "ticket_text": trim_text(_first_text(self._session, ticket)),
            # Only for the organisation's people: anyone can write with an outside From,
            # and the page shows the request whole (see services/assignment.py).
            "page_link": page_link(ticket, self.recipient)
            if config.is_employee(ticket.requester)
            else "",
        }

    def department_name(self) -> str:
        ticket = self._ticket
        department = self._config.departments.get(ticket.department) if ticket else None
        return department.name if department is not None else "aliasdesk"

    def person_name(self, address: str | None, given: str) -> str:
        return person_name(self._config, address, given)

    def actor_name(self, address: str | None, given: str) -> str:
        return actor_name(self._config, self.ticket(), address, given)

    def assigner_name(self, address: str | None, given: str) -> str | None:
        return assigner_name(self._config, address, given)

    def first_response_within(self) -> timedelta | None:
        """The department's first-response promise for this ticket; None where the
        department promises none, and the mail says "soon"."""
        ticket = self.ticket()
        department = self._config.departments.get(ticket.department)
        return targets_for(department, ticket.priority).first_response

    def first_response_due(self) -> datetime | None:
        """By when that promise falls due, where it is counted in opening hours: four
        hours asked on a Friday afternoon are not four hours later. None round the clock,
        where "within 4 hours" says it all."""
        within = self.first_response_within()
        ticket = self.ticket()
        calendar = calendar_of(self._config.departments.get(ticket.department))
        if within is None or calendar.round_the_clock:
            return None
        return calendar.local(add_business(calendar, ticket.created_at, within))

    def linked_tickets(self) -> tuple[LinkedTicket, ...]:
        return linked_from_same_mail(self._session, self.ticket(), self._config)

    def request_files(self) -> tuple[RequestFile, ...]:
        return listed_files(self._session, self.ticket().id)

    def attached_request_files(self) -> list[FileAttachment]:
        return attached_files(self._session, self.ticket().id)

    def relayed_files(self) -> tuple[list[FileAttachment], list[str]]:
        return relayed_files(self._session, self.facts)


def render_delivery(
    session: Session,
    delivery: Delivery,
    config: RoutingConfig,
    renderer: TemplateRenderer,
    instance_id: str,
) -> bytes:
    """The bytes to send for ``delivery``: threaded to the requester's original mail.

    A kind no module declares is a ValueError (``UnknownKind``), like any other mail that
    cannot be built, so the delivery is recorded as failed instead of stopping the batch.
    """
    kind = kind_named(delivery.kind)
    ticket = session.get(Ticket, delivery.ticket_id) if delivery.ticket_id else None
    source = StoredDelivery(session, delivery, ticket, config)
    about = source.facts.get("department")
    locale = mail_locale(
        session,
        config,
        ticket,
        delivery.recipient,
        kind.audience,
        department_key=about if isinstance(about, str) else None,
    )
    with renderer.speaking(locale):  # remarks built with the context are in its language
        context = kind.build(source)
        images = kind.inline_images(source) if kind.inline_images is not None else []
    if kind.audience == "outside":
        notice = renderer.render(kind.name, context, locale=locale)
        return _compose_outside_notice(delivery, source, notice, instance_id)
    if not kind.about_a_ticket:
        alert = renderer.render(delivery.kind, context, locale=locale)
        return _compose_admin_alert(delivery, alert, instance_id, images)
    ticket = source.ticket()
    rendered = renderer.render(kind.name, context, ticket.department, locale)
    department = config.departments.get(ticket.department)
    # Thread every mail into the requester's original conversation (RFC 5322 §3.6.4).
    origin = ticket.origin_message_id
    references = [origin] if origin else []
    files = kind.attachments(source) if kind.attachments is not None else []
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


def _compose_outside_notice(
    delivery: Delivery, source: StoredDelivery, rendered: RenderedMail, instance_id: str
) -> bytes:
    """A notice to someone outside a ticket: built from what they wrote, threaded to their
    own mail, never from the ticket (its subject, first Message-ID, owner or status)."""
    theirs = source.facts.get("their_message_id")
    return compose(
        from_address=delivery.sender,
        from_name=source.department_name(),
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


def _compose_admin_alert(
    delivery: Delivery, rendered: RenderedMail, instance_id: str, images: list[InlineImage]
) -> bytes:
    """Mail about no ticket (an admin's alert, a digest, a report): it threads to nothing."""
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
        inline_images=images,
    )
