"""Signed links to a requester's ticket page, and checking them when they come back.

A link names no sequential id: it carries the ticket's random reply token (already in
the Message-IDs the requester holds) and an HMAC-SHA256 over that token and the
requester's address, so a guessed or altered link fails, and a link stops working when
the ticket changes hands to another requester. Nothing in the link expires by itself:
the page refuses a link some days after its ticket was closed (``LINK_DAYS_AFTER_CLOSE``),
so the requester can still look while the ticket is open, however long that takes.

Which base and which key are in use is set once per process (``configure``), the way
the outside-mail breaker is: every mail rendered in the process reads it, and a process
without ``ALIASDESK_WEB_URL`` puts no link in any mail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from aliasdesk.db.models import Ticket, TicketEvent

LINK_DAYS_AFTER_CLOSE = 30
PAGE_PATH = "/t/"
_TOKEN = re.compile(r"^([0-9a-f]{16,32})\.([A-Za-z0-9_-]{32})$")
_PURPOSE_PAGE = b"ticket-page"
_PURPOSE_FORM = b"ticket-form"


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Where the pages are served and the key that signs their links."""

    base_url: str | None = None
    secret_key: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.base_url and self.secret_key)


_current = LinkSettings()


def configure(base_url: str | None, secret_key: str | None) -> None:
    """Set this process's base URL and key (both from the settings)."""
    global _current
    _current = LinkSettings(base_url.rstrip("/") if base_url else None, secret_key)


def current() -> LinkSettings:
    return _current


def _mac(key: str, purpose: bytes, *parts: str) -> str:
    message = b"\0".join([purpose, *(part.encode() for part in parts)])
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def page_token(key: str, ticket: Ticket) -> str:
    """The token of ``ticket``'s page, bound to its current requester."""
    return f"{ticket.reply_token}.{_mac(key, _PURPOSE_PAGE, ticket.reply_token, _who(ticket))}"


def _who(ticket: Ticket) -> str:
    return ticket.requester.strip().lower()


def page_link(ticket: Ticket, recipient: str) -> str:
    """The page's address for a mail to ``recipient``; "" unless that is the requester
    and this process has a base URL (a watcher's copy carries no link to act as them)."""
    settings = _current
    if not settings.enabled or recipient.strip().lower() != _who(ticket):
        return ""
    assert settings.secret_key is not None
    return f"{settings.base_url}{PAGE_PATH}{page_token(settings.secret_key, ticket)}"


def form_token(key: str, token: str) -> str:
    """The CSRF token of a page's forms: only someone holding the key can make it, so a
    form posted from another site (which cannot read our page) carries none."""
    return _mac(key, _PURPOSE_FORM, token)


def form_token_matches(key: str, token: str, given: str) -> bool:
    return hmac.compare_digest(form_token(key, token).encode(), given.encode())


class LinkRefused(Exception):
    """A link that shows nothing: malformed, forged, for another requester, or expired.

    ``expired`` tells the one case the page may say more about (the ticket was closed
    long ago) from every other, which all read the same so a prober learns nothing.
    """

    def __init__(self, expired: bool = False) -> None:
        super().__init__("expired" if expired else "not valid")
        self.expired = expired


@dataclass(frozen=True, slots=True)
class OpenedTicket:
    """The few columns a link check reads, fetched without the ORM: the page is asked
    for far more often than it changes, and this is all a cached page needs."""

    id: int
    requester: str
    """As the link's signature was checked against: trimmed, lower case."""
    status: str
    updated_at: datetime
    rating: int | None
    language: str | None = None
    """The ticket's language (a cached page is kept per language the page was built in)."""


_TICKETS = Ticket.__table__
_BY_REPLY_TOKEN = select(
    _TICKETS.c.id,
    _TICKETS.c.requester,
    _TICKETS.c.status,
    _TICKETS.c.updated_at,
    _TICKETS.c.rating,
    _TICKETS.c.language,
).where(_TICKETS.c.reply_token == bindparam("reply_token"))


def ticket_for_token(connection: Connection, key: str, token: str, now: datetime) -> OpenedTicket:
    """The ticket a page token opens, or ``LinkRefused``; a plain connection is enough
    (a session's is ``session.connection()``).

    The signature is compared in constant time; a token whose ticket does not exist is
    still signed and compared against a made-up requester, so timing does not tell a
    stranger which reply tokens exist.
    """
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise LinkRefused()
    reply_token, given = match.groups()
    row = connection.execute(_BY_REPLY_TOKEN, {"reply_token": reply_token}).first()
    who = str(row.requester).strip().lower() if row is not None else "\0nobody"
    expected = _mac(key, _PURPOSE_PAGE, reply_token, who)
    if not hmac.compare_digest(expected.encode(), given.encode()) or row is None:
        raise LinkRefused()
    opened = OpenedTicket(row.id, who, row.status, row.updated_at, row.rating, row.language)
    closed = closed_at(connection, opened)
    if closed is not None and now - closed > timedelta(days=LINK_DAYS_AFTER_CLOSE):
        raise LinkRefused(expired=True)
    return opened


def closed_at(reader: Connection | Session, ticket: Ticket | OpenedTicket) -> datetime | None:
    """When a closed ticket was closed (its last move to closed); None while it is not."""
    if ticket.status != "closed":
        return None
    moment = reader.scalar(
        select(TicketEvent.at)
        .where(
            TicketEvent.ticket_id == ticket.id,
            TicketEvent.kind == "status",
            TicketEvent.detail.like("% -> closed%"),
        )
        .order_by(TicketEvent.id.desc())
        .limit(1)
    )
    return moment or ticket.updated_at
