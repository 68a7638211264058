"""Typed SQLAlchemy models: the durable record of every mail, ticket and sent notification.

The schema itself is only ever created by the Alembic migrations (aliasdesk/db/migrations);
tests check that these models and the migrations agree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aliasdesk.db.base import Base, Stamp, utcnow


class InboundRaw(Base):
    """An inbound mail's raw bytes, apart: the row is stored, then updated with its outcome,
    and SQLite rewrites a whole record, overflow pages and all, when an update changes its
    length (a 100,000-mail import wrote 11.2 GB with the bytes in the row, 8.3 without)."""

    __tablename__ = "inbound_raw"

    id: Mapped[int] = mapped_column(ForeignKey("inbound_mail.id"), primary_key=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class InboundMail(Base):
    """One entry per mail taken in: the raw bytes first (in ``inbound_raw``), then what
    became of it."""

    __tablename__ = "inbound_mail"
    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_inbound_mail_location"),
        Index("ix_inbound_mail_state", "state"),
        Index("ix_inbound_mail_content_hash", "content_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # imap | import | demo
    mailbox: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger)  # as the server reports it, even when held
    header_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Too large to take in (ALIASDESK_MAX_MAIL_BYTES): ``raw`` is the header alone, the mail
    itself stays in the mailbox."""
    content_hash: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(998))
    from_address: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="received")
    outcome: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    trace: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    ticket_refs: Mapped[str | None] = mapped_column(Text)  # JSON list, e.g. ["HR-1","IT-1"]
    duplicate_of: Mapped[int | None] = mapped_column(Integer)
    send_mail: Mapped[bool] = mapped_column(Boolean, default=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(Stamp(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(Stamp())
    dismissed_at: Mapped[datetime | None] = mapped_column(Stamp())  # quarantine dealt with
    stored_bytes: Mapped[InboundRaw | None] = relationship(uselist=False, viewonly=True)
    """Loaded when read: the pipeline reads the bytes with its own query (intake_rows)."""

    @property
    def raw(self) -> bytes:
        """The mail's bytes as taken in (its header alone when it was held for its size)."""
        return self.stored_bytes.raw if self.stored_bytes is not None else b""


class MessageKey(Base):
    """The dedupe key of every processed mail: the unique index turns a repeat into a duplicate."""

    __tablename__ = "message_keys"

    key: Mapped[str] = mapped_column(String(998), primary_key=True)
    inbound_id: Mapped[int] = mapped_column(ForeignKey("inbound_mail.id"))


class DepartmentCounter(Base):
    """Per-department ticket numbers, taken under a row lock by the gateway."""

    __tablename__ = "department_counters"

    department: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class AssignmentCursor(Base):
    """Per-department round-robin position, taken under a row lock by the workers.

    Kept apart from the ticket numbers so the gateway and the workers never wait for
    (or deadlock on) each other's rows.
    """

    __tablename__ = "assignment_cursors"

    department: Mapped[str] = mapped_column(String(16), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("department", "number", name="uq_tickets_ref"),
        Index("ix_tickets_status", "status"),
        Index("ix_tickets_owner_status", "owner", "status"),
        Index("ix_tickets_requester", "requester", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department: Mapped[str] = mapped_column(String(16))
    number: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(Text)
    requester: Mapped[str] = mapped_column(String(320))
    requester_name: Mapped[str] = mapped_column(String(255), default="")
    owner: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), default="new")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    reply_token: Mapped[str] = mapped_column(String(32), unique=True)
    alias: Mapped[str | None] = mapped_column(String(320))  # the alias the request came to
    origin_message_id: Mapped[str | None] = mapped_column(String(998))
    created_at: Mapped[datetime] = mapped_column(Stamp(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Stamp(), default=utcnow)
    # The figures, recorded as they happen: the first public reply by a member, the first
    # time the ticket was resolved (or closed), each also in business seconds of the
    # department's calendar without the time the clock stood still; the reopen count.
    first_response_at: Mapped[datetime | None] = mapped_column(Stamp())
    resolved_at: Mapped[datetime | None] = mapped_column(Stamp())
    first_response_s: Mapped[int | None] = mapped_column(Integer)
    resolution_s: Mapped[int | None] = mapped_column(Integer)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The targets in force when the ticket opened (business seconds; null: none), so later
    # edits of the routing file never rewrite whether a past ticket met them.
    target_first_response_s: Mapped[int | None] = mapped_column(Integer)
    target_resolution_s: Mapped[int | None] = mapped_column(Integer)
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    assigned: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set while the ticket waits on the requester (pending): the SLA clock is stopped.
    sla_paused_at: Mapped[datetime | None] = mapped_column(Stamp())
    # Business seconds the clock stood still in earlier pauses.
    sla_paused_s: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The language mail to the requester is written in (en, de, fr, es, nl), chosen when
    # the ticket opens (CONTRACT §5); null on tickets from before languages: English.
    language: Mapped[str | None] = mapped_column(String(8))
    merged_into_id: Mapped[int | None] = mapped_column(Integer)
    """Set when ``#merge`` or ``#move`` gave its conversation to another ticket (then closed):
    mail still naming this one is filed with that one."""
    anonymised_at: Mapped[datetime | None] = mapped_column(Stamp())
    """When its personal data was removed (retention or an erasure); its figures remain."""

    messages: Mapped[list[TicketMessage]] = relationship(
        back_populates="ticket", order_by="TicketMessage.id"
    )
    events: Mapped[list[TicketEvent]] = relationship(order_by="TicketEvent.id")

    @property
    def ref(self) -> str:
        return f"{self.department}-{self.number}"


class LanguageChoice(Base):
    """A person's own choice of language (``#lang de``): it outweighs every guess, on
    this ticket and every later one from the same address."""

    __tablename__ = "language_choices"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    language: Mapped[str] = mapped_column(String(8))
    chosen_at: Mapped[datetime] = mapped_column(Stamp(), default=utcnow)


class TicketLink(Base):
    """Tickets opened from one mail in several departments, or a new ticket after a closed one."""

    __tablename__ = "ticket_links"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    linked_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)


class Watcher(Base):
    """People in Cc of the request: they get the requester's updates too."""

    __tablename__ = "watchers"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="", server_default="")
    """Their display name in the request's To or Cc: what the mail they get calls them."""


class TicketMessage(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_message_id", "message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Indexed: every notification quotes its ticket's first message, the owner's mail
    # carries that message's files, and a ticket's page lists its messages.
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    direction: Mapped[str] = mapped_column(String(4))  # in | out
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    from_address: Mapped[str] = mapped_column(String(320))
    to_addresses: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    subject: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str | None] = mapped_column(String(998))
    text: Mapped[str] = mapped_column(Text, default="")
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_mail.id"))
    delivery_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(Stamp(), default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")


class StoredAttachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    inline: Mapped[bool] = mapped_column(Boolean, default=False)


class TicketEvent(Base):
    """Every change with actor and time: the ticket's history."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(320))
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(Stamp(), default=utcnow)


class Job(Base):
    """The outbox: work for the workers, written in the same transaction as its cause."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_available", "state", "available_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    delivery_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[str] = mapped_column(Text, default="{}")
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(Stamp(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(Stamp())
    # The process answering for a published job (the relay, then the worker running it),
    # "host:pid:start" as in the holders table; a dead one's jobs are published again.
    holder: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(Stamp(), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(Stamp())
    last_error: Mapped[str | None] = mapped_column(Text)
    # Lets a job be added with its delivery before either has an id: one flush inserts
    # both, in order, instead of a flush per notification to learn the delivery's id.
    delivery: Mapped[Delivery | None] = relationship(
        primaryjoin="foreign(Job.delivery_id) == Delivery.id", lazy="raise"
    )


class Delivery(Base):
    """One notification to one recipient; unique per cause, kind and recipient.

    The Message-ID is fixed when the row is made and the bytes when it is first claimed,
    so a crash-and-retry can only resend the very same mail.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("cause", "kind", "recipient", name="uq_deliveries_cause"),
        Index("ix_deliveries_recipient_at", "recipient", "created_at"),
        Index("ix_deliveries_state_holder", "state", "holder"),
        # A recipient's earlier unsent mail about the same ticket (causal send order).
        Index("ix_deliveries_ticket_recipient", "ticket_id", "recipient"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(String(32))
    cause: Mapped[str] = mapped_column(String(128))
    recipient: Mapped[str] = mapped_column(String(320))
    sender: Mapped[str] = mapped_column(String(320))
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    auto_submitted: Mapped[str] = mapped_column(String(32))
    context: Mapped[str] = mapped_column(Text, default="{}")  # JSON facts for rendering
    rendered: Mapped[bytes | None] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    # Indexed: the outside-mail breaker counts the mail handed to SMTP in the last minute.
    claimed_at: Mapped[datetime | None] = mapped_column(Stamp(), index=True)
    # The process sending it ("host:pid:start"); a dead one's claim is taken over at once.
    holder: Mapped[str | None] = mapped_column(String(128))
    sent_at: Mapped[datetime | None] = mapped_column(Stamp())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Stamp(), default=utcnow)
    dismissed_at: Mapped[datetime | None] = mapped_column(Stamp())  # failure dealt with


class Holder(Base):
    """A live process that may hold claims, and when it last said so (its heartbeat).

    Claims on this host are judged by the process table (pid and start time); claims of
    processes on other hosts by how fresh this row is.
    """

    __tablename__ = "holders"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    host: Mapped[str] = mapped_column(String(128))
    pid: Mapped[int] = mapped_column(Integer)
    started: Mapped[float] = mapped_column(Float)
    beat_at: Mapped[datetime] = mapped_column(Stamp())


class SlaTimer(Base):
    """A warning or breach moment, fired once (fired_at set in the firing transaction)."""

    __tablename__ = "sla_timers"
    __table_args__ = (UniqueConstraint("ticket_id", "kind", name="uq_sla_timers_ticket_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime] = mapped_column(Stamp(), index=True)
    fired_at: Mapped[datetime | None] = mapped_column(Stamp())
    # warned | escalated | met | closed | late (what firing did); only escalated is a breach.
    outcome: Mapped[str | None] = mapped_column(String(16))


class GatewayState(Base):
    """One fact the running gateway reports for ``aliasdesk status``: the routing file it
    has in force, whether the mailbox accepts its login. ``problem`` is set while that
    fact needs an admin."""

    __tablename__ = "gateway_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    problem: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(Stamp(), default=utcnow)


class BreakerTrip(Base):
    """One episode of the outside-mail breaker holding mail (services/breaker.py): opened
    by the first hold, extended by every hold within five minutes; its admin alert's cause is
    ``breaker:<id>``, so each episode alerts once."""

    __tablename__ = "breaker_trips"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(Stamp())
    last_held_at: Mapped[datetime] = mapped_column(Stamp())
    holds: Mapped[int] = mapped_column(Integer, default=0)  # mails held, each time counted
    per_minute: Mapped[int] = mapped_column(Integer)  # the limit in force when it opened


class SignIn(Base):
    """One dashboard sign-in: the link mailed for it and, once used, the session it opened.

    Only the SHA-256 of the link's token is kept, so reading this table gives nobody a
    link that works. ``used_at`` is set by the one POST that consumes the link (a
    conditional update, so two presses of one link open one session); the session's
    cookie names this row and ends with ``signed_out_at`` or after its lifetime.
    """

    __tablename__ = "sign_ins"
    __table_args__ = (Index("ix_sign_ins_address_created", "address", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    address: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(Stamp(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(Stamp())
    signed_out_at: Mapped[datetime | None] = mapped_column(Stamp())
