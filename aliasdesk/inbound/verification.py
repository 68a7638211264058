"""Whether a mail that claims to come from a department member really does.

A From header is whatever the sender typed, so a member's address in it proves nothing.
A member's mail counts as theirs (CONTRACT §5) when either

- our receiving server vouched for it: an Authentication-Results header with the
  configured authserv-id reports ``dmarc=pass`` for the From domain
  (aliasdesk.mail.authentication_results), or
- it answers a mail aliasdesk sent to that same member about that same ticket (or one
  since merged or moved into it): the Message-IDs we send carry 128 random bits and are
  only ever mailed to their recipient, so quoting one in In-Reply-To/References shows
  the writer reads that member's mailbox.

With ALIASDESK_REQUIRE_AUTH_RESULTS only the first counts (for sites where mailboxes
are shared or forwarded, so holding a mail proves less).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery, Ticket
from aliasdesk.mail.authentication_results import dmarc_passed
from aliasdesk.mail.model import ParsedMail

MAX_REFERENCES = 40
"""Message-IDs of a mail's threading headers looked at; a reply names its parent first."""
MAX_HANDOVERS = 20
"""Merges followed from the ticket a mail answers to the one now holding its conversation."""


@dataclass(frozen=True)
class SenderCheck:
    """The verdict on one sender, and how it was reached (for the trace)."""

    verified: bool
    how: str


def _threading_ids(mail: ParsedMail) -> list[str]:
    ids = dict.fromkeys(mail.in_reply_to + tuple(reversed(mail.references)))
    return list(ids)[:MAX_REFERENCES]


def answers_our_mail_to(session: Session, mail: ParsedMail, sender: str, ticket_id: int) -> bool:
    """Whether ``mail`` answers a mail we sent to ``sender`` about ticket ``ticket_id``, or
    about a ticket whose conversation was since merged or moved into it: a member answers
    the thread they have, and after ``#merge`` that is still the old ticket's."""
    ids = _threading_ids(mail)
    if not ids or not sender:
        return False
    with session.no_autoflush:
        answered = session.scalars(
            select(Delivery.ticket_id)
            .where(
                Delivery.message_id.in_(ids),
                Delivery.recipient == sender,
                Delivery.ticket_id.is_not(None),
                Delivery.state.in_(("sent", "sending")),
            )
            .distinct()
        ).all()
        return any(_hands_on_to(session, about, ticket_id) for about in answered)


def _hands_on_to(session: Session, about: int | None, ticket_id: int) -> bool:
    """Whether ticket ``about`` is ``ticket_id`` or was handed on to it, merge after merge
    (never round a cycle: the chain is data, as the thread stage says)."""
    seen: set[int] = set()
    while about is not None and about not in seen and len(seen) < MAX_HANDOVERS:
        if about == ticket_id:
            return True
        seen.add(about)
        about = session.scalar(select(Ticket.merged_into_id).where(Ticket.id == about))
    return False


def check_sender(
    session: Session | None,
    mail: ParsedMail,
    sender: str,
    *,
    ticket_id: int | None,
    authserv_id: str | None,
    require_auth_results: bool,
) -> SenderCheck:
    """Whether the mail's From can be believed for a member (see the module docstring)."""
    if dmarc_passed(mail.header_values("authentication-results"), authserv_id, sender):
        return SenderCheck(True, f"dmarc=pass reported by {authserv_id}")
    if require_auth_results:
        return SenderCheck(False, "no dmarc=pass from the receiving server")
    if (
        session is not None
        and ticket_id is not None
        and answers_our_mail_to(session, mail, sender, ticket_id)
    ):
        return SenderCheck(True, "answers a mail aliasdesk sent to this member")
    if authserv_id:
        return SenderCheck(False, "no dmarc=pass and not an answer to our mail to this member")
    return SenderCheck(False, "not an answer to a mail aliasdesk sent to this member")
