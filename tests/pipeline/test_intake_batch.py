"""A fetch batch is processed in one transaction with its rows written a table at a time;
these are the promises that must survive that, on SQLite and PostgreSQL.

- a mail that fails is quarantined alone, with its traceback, and leaves no rows behind;
  the rest of its batch commits, numbered without gaps;
- a mail may answer a ticket opened earlier in its own batch, by header or by tag;
- every row of a new ticket is written (message, attachment, event, watcher, links, job);
- a re-fetch or a renumbered mailbox keeps one inbound entry per mail;
- the batch costs a few statements in all, not a few per mail.
"""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import func, select

from aliasdesk.db.models import (
    Delivery,
    InboundMail,
    InboundRaw,
    Job,
    MessageKey,
    StoredAttachment,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketMessage,
    Watcher,
)
from aliasdesk.runtime import Runtime
from aliasdesk.services import filing
from aliasdesk.services.intake import RawMail, store_raw
from aliasdesk.services.tickets import link_tickets
from tests.support.harness import build_mail, drain_jobs, feed


def _request(n: int, subject: str = "Question") -> bytes:
    return build_mail(
        sender=f"Person {n} <person{n}@example.com>",
        subject=f"{subject} {n}",
        message_id=f"<batch-{n}@example.com>",
    )


def test_a_failing_mail_is_quarantined_alone_and_the_rest_commit(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def link_or_break(session: Any, tickets: Any, **how: Any) -> None:
        # Fails after the mail's ticket rows were queued: they must not survive.
        if any(t.row.values["subject"].startswith("Poison") for t in tickets):
            raise RuntimeError("linking broke on purpose")
        link_tickets(session, tickets, **how)

    monkeypatch.setattr(filing, "link_tickets", link_or_break)
    raws = [_request(1), _request(2, "Poison"), _request(3), _request(4)]
    results = feed(runtime, *raws)
    outcomes = {r.inbound_id: (r.outcome, r.ticket_refs, r.reason) for r in results}
    with runtime.db.reader() as session:
        rows = session.scalars(select(InboundMail).order_by(InboundMail.id)).all()
        refs = sorted(session.scalars(select(Ticket.number)).all())
        subjects = session.scalars(select(Ticket.subject)).all()
        keys = session.scalar(select(func.count()).select_from(MessageKey))
    assert len(rows) == 4
    poisoned = rows[1]
    assert outcomes[poisoned.id] == ("quarantined", (), "internal-error")
    assert poisoned.state == "quarantined"
    assert poisoned.error is not None and "linking broke on purpose" in poisoned.error
    assert "Traceback" in poisoned.error
    others = [row for row in rows if row.id != poisoned.id]
    assert [row.state for row in others] == ["processed"] * 3
    assert [outcomes[row.id][1] for row in others] == [("HR-1",), ("HR-2",), ("HR-3",)]
    assert refs == [1, 2, 3]  # the failed attempt took no number for good
    assert not any(subject.startswith("Poison") for subject in subjects)
    assert keys == 3


def test_replies_to_a_ticket_opened_in_the_same_batch(runtime: Runtime) -> None:
    request = build_mail(
        sender="Eve <eve@example.com>",
        to="it@example.com",
        subject="Laptop will not boot",
        message_id="<laptop@example.com>",
    )
    by_header = build_mail(
        sender="Eve <eve@example.com>",
        to="it@example.com",
        subject="Re: Laptop will not boot",
        body="It beeps three times.",
        headers={"In-Reply-To": "<laptop@example.com>", "References": "<laptop@example.com>"},
    )
    by_tag = build_mail(
        sender="Eve <eve@example.com>",
        to="it@example.com",
        subject="Re: [IT-1] Laptop will not boot",
        body="And now it smells.",
    )
    results = feed(runtime, request, by_header, by_tag)
    assert [(r.outcome, r.ticket_refs) for r in results] == [
        ("new_ticket", ("IT-1",)),
        ("update_ticket", ("IT-1",)),
        ("update_ticket", ("IT-1",)),
    ]
    with runtime.db.reader() as session:
        [ticket] = session.scalars(select(Ticket)).all()
        texts = [m.text for m in ticket.messages]
    assert len(texts) == 3
    assert "It beeps three times." in texts[1] and "And now it smells." in texts[2]


def _two_departments_with_attachment() -> bytes:
    message = EmailMessage()
    message["From"] = "Dave Miller <dave@example.com>"
    message["To"] = "hr@example.com, it@example.com"
    message["Cc"] = "Zoe <zoe@example.com>"
    message["Subject"] = "New starter on Monday"
    message["Message-ID"] = "<starter@example.com>"
    message.set_content("Please prepare a contract and a laptop.")
    message.add_attachment(
        b"%PDF-1.4 offer", maintype="application", subtype="pdf", filename="offer.pdf"
    )
    return message.as_bytes()


def test_every_row_of_a_new_ticket_is_written(runtime: Runtime) -> None:
    [result] = feed(runtime, _two_departments_with_attachment())
    assert result.outcome == "new_ticket" and set(result.ticket_refs) == {"HR-1", "IT-1"}
    with runtime.db.reader() as session:
        tickets = {t.ref: t for t in session.scalars(select(Ticket))}
        hr, it = tickets["HR-1"], tickets["IT-1"]
        links = {
            (a, b) for a, b in session.execute(select(TicketLink.ticket_id, TicketLink.linked_id))
        }
        for ticket in (hr, it):
            [message] = ticket.messages
            assert message.inbound_id == result.inbound_id
            assert message.message_id == "<starter@example.com>"
            assert "contract and a laptop" in message.text
            [attachment] = session.scalars(
                select(StoredAttachment).where(StoredAttachment.message_id == message.id)
            ).all()
            assert (attachment.filename, attachment.data) == ("offer.pdf", b"%PDF-1.4 offer")
            kinds = session.scalars(
                select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id)
            ).all()
            assert kinds == ["created"]
            watchers = session.scalars(
                select(Watcher.address).where(Watcher.ticket_id == ticket.id)
            ).all()
            assert watchers == ["zoe@example.com"]
            [job] = session.scalars(select(Job).where(Job.ticket_id == ticket.id)).all()
            assert job.kind == "ticket_created" and json.loads(job.payload) == {"send_mail": True}
            assert ticket.created_at.tzinfo is not None and ticket.reply_token
        inbound = session.get(InboundMail, result.inbound_id)
        assert inbound is not None and inbound.state == "processed"
        assert json.loads(inbound.ticket_refs or "[]") == list(result.ticket_refs)
        messages = session.scalar(select(func.count()).select_from(TicketMessage))
    assert links == {(hr.id, it.id), (it.id, hr.id)}
    assert messages == 2


def test_a_refetch_and_a_renumbered_mailbox_keep_one_entry_per_mail(runtime: Runtime) -> None:
    raws = [_request(n) for n in range(1, 4)]

    def store(uidvalidity: int, first_uid: int) -> dict[int | None, int]:
        return store_raw(
            runtime.db,
            source="imap",
            mailbox="desk@mail/INBOX",
            uidvalidity=uidvalidity,
            mails=[RawMail(raw, first_uid + n) for n, raw in enumerate(raws)],
        )

    first = store(7, 1)
    assert set(first) == {1, 2, 3} and len(set(first.values())) == 3
    assert store(7, 1) == first  # fetched again after a crash before the flags were set
    moved = store(8, 21)  # the server renumbered the folder
    assert {moved[21 + n] for n in range(3)} == {first[1 + n] for n in range(3)}
    with runtime.db.reader() as session:
        rows = session.scalars(select(InboundMail).order_by(InboundMail.id)).all()
    assert [(row.uidvalidity, row.uid, row.state) for row in rows] == [
        (8, 21, "received"),
        (8, 22, "received"),
        (8, 23, "received"),
    ]


def test_each_stored_row_holds_its_own_mail_s_bytes(runtime: Runtime) -> None:
    """The bytes go to their own table after the rows (services/intake_store.py) and are
    matched to them by UID and digest: mails without a UID that share bytes, a held mail
    stored as its header, and a UID another gateway stored first each get the right ones."""
    twice, other = _request(1), _request(2)
    whole = _request(3) + b"x" * 5000
    mails = [
        RawMail(twice),
        RawMail(other),
        RawMail(twice),
        RawMail(whole[:40], held_size=len(whole), reason="too large", digest="d" * 64),
    ]
    stored = store_raw(runtime.db, source="lmtp", mailbox="lmtp", uidvalidity=None, mails=mails)
    assert len(stored) == 1  # no UIDs: the rows are found by their state, not by UID
    first = store_raw(
        runtime.db, source="imap", mailbox="INBOX", uidvalidity=5, mails=[RawMail(other, 9)]
    )
    again = store_raw(
        runtime.db,
        source="imap",
        mailbox="INBOX",
        uidvalidity=5,
        mails=[RawMail(twice, 8), RawMail(other, 9)],
    )
    assert again[9] == first[9]
    with runtime.db.reader() as session:
        rows = session.execute(
            select(InboundMail.mailbox, InboundMail.uid, InboundRaw.raw)
            .join(InboundRaw, InboundRaw.id == InboundMail.id)
            .order_by(InboundMail.id)
        ).all()
    assert [tuple(row) for row in rows] == [
        ("lmtp", None, twice),
        ("lmtp", None, other),
        ("lmtp", None, twice),
        ("lmtp", None, whole[:40]),
        ("INBOX", 9, other),
        ("INBOX", 8, twice),
    ]


def test_a_batch_costs_a_few_statements_not_a_few_per_mail(
    runtime: Runtime, statements: list[str]
) -> None:
    mails = 60
    results = feed(runtime, *(_request(n) for n in range(mails)))
    assert [r.outcome for r in results] == ["new_ticket"] * mails
    # Store, look up, number, write each table once, mark the inbound rows: a fixed cost.
    assert len(statements) < 40, statements
    with runtime.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == mails


@pytest.mark.parametrize("threaded_by", ["tag", "header"])
def test_a_reply_reads_its_ticket_once(
    runtime: Runtime, statements: list[str], threaded_by: str
) -> None:
    [opened] = feed(runtime, _request(1))
    [ref] = opened.ticket_refs
    reply = build_mail(
        sender="Person 1 <person1@example.com>",
        subject=f"Re: [{ref}] Question 1" if threaded_by == "tag" else "Re: Question 1",
        message_id="<batch-reply@example.com>",
        headers={} if threaded_by == "tag" else {"In-Reply-To": "<batch-1@example.com>"},
    )
    statements.clear()
    [answered] = feed(runtime, reply)
    assert answered.outcome == "update_ticket" and answered.ticket_refs == (ref,)
    ticket_reads = [s for s in statements if s.lstrip().startswith("SELECT tickets.id,")]
    # The thread stage finds it once; the persist and filing stages read the same row.
    assert len(ticket_reads) == 1, ticket_reads


def test_a_batch_of_replies_asks_once_what_they_have_made_aliasdesk_send(
    runtime: Runtime, statements: list[str]
) -> None:
    """Each reply is relayed to the ticket's owner under a cause of its own; whether that
    relay exists already is read for the whole batch in one query, and the relays are
    still queued once each."""
    replies = 8
    opened = feed(runtime, *(_request(n) for n in range(replies)))
    drain_jobs(runtime)  # owners assigned, so every reply has someone to reach
    answers = [
        build_mail(
            sender=f"Person {n} <person{n}@example.com>",
            subject=f"Re: [{result.ticket_refs[0]}] Question {n}",
            message_id=f"<batch-reply-{n}@example.com>",
        )
        for n, result in enumerate(opened)
    ]
    statements.clear()
    results = feed(runtime, *answers)
    assert [r.outcome for r in results] == ["update_ticket"] * replies
    per_relay = [s for s in statements if "deliveries.cause =" in " ".join(s.split())]
    assert per_relay == []
    with runtime.db.reader() as session:
        relays = session.execute(
            select(Delivery.cause, func.count())
            .where(Delivery.kind == "reply_relay")
            .group_by(Delivery.cause)
        ).all()
    assert sorted(relays) == sorted((f"in:{r.inbound_id}", 1) for r in results)
