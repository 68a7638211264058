"""Facts a notification mentions beyond the ticket's own columns: what to call people, and
which other departments took part of the same request.

Mail names people, it does not show their addresses: "Alice Hart has marked your request
as resolved", not "alice.hart@example.com". The routing file's name for a member wins
over the display name of a mail, because anyone can write any display name.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, aliased

from aliasdesk.db.models import Ticket, TicketLink, Watcher
from aliasdesk.db.unit_of_work import work_of
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.notify.kinds import LinkedTicket
from aliasdesk.notify.text import friendly_name


def person_name(config: RoutingConfig, address: str | None, display_name: str = "") -> str:
    """Their name in the routing file, else their mail's display name, else one made from
    the address ("john.smith@…" -> "John Smith").

    A display name holding an address ("ceo@example.com" <x@evil.example>) is not a name:
    it is passed over, and so is anything that would still show an address.
    """
    shown = "" if "@" in display_name else display_name
    named = config.member_name(address) if address else None
    name = named or friendly_name(address or "", shown)
    return name if name and "@" not in name else "someone"


def actor_name(
    config: RoutingConfig, ticket: Ticket, actor: str | None, display_name: str = ""
) -> str:
    """Who made a change, by name; the department's name for changes aliasdesk made itself."""
    if actor and "@" in actor:
        return person_name(config, actor, display_name)
    department = config.departments.get(ticket.department)
    return department.name if department else ticket.department


def assigner_name(config: RoutingConfig, actor: str | None, display_name: str = "") -> str | None:
    """Who handed a ticket over, by name; None when the assignment policy chose."""
    return person_name(config, actor, display_name) if actor and "@" in actor else None


def recipient_name(session: Session, config: RoutingConfig, ticket: Ticket, recipient: str) -> str:
    """The greeting's name: the requester as they sign, a watcher by the name the request's
    Cc gave them, a member by theirs; never the requester's name for someone else."""
    if recipient == ticket.requester:
        return person_name(config, ticket.requester, ticket.requester_name)
    if config.departments_of_member(recipient):
        return person_name(config, recipient)
    watcher = session.get(Watcher, (ticket.id, recipient))
    return person_name(config, recipient, watcher.name if watcher else "")


_ORIGIN = aliased(Ticket)
_SAME_MAIL_LINKS = (
    select(TicketLink.ticket_id, Ticket.department, Ticket.number)
    .join(TicketLink, TicketLink.linked_id == Ticket.id)
    .join(_ORIGIN, _ORIGIN.id == TicketLink.ticket_id)
    .where(
        TicketLink.ticket_id.in_(bindparam("ids", expanding=True)),
        Ticket.created_at == _ORIGIN.created_at,
    )
    .order_by(TicketLink.ticket_id, Ticket.id)
)
"""Built once: building it anew for every batch cost more than running it."""


def preload_same_mail_links(session: Session, ticket_ids: Iterable[int]) -> None:
    """The same-mail links of every ticket a batch renders, in one query instead of one
    per acknowledgement; kept for the transaction (a rollback forgets them)."""
    cache = work_of(session).known.same_mail_links
    wanted = [ticket_id for ticket_id in set(ticket_ids) if ticket_id not in cache]
    if not wanted:
        return
    rows = session.execute(_SAME_MAIL_LINKS, {"ids": wanted})
    found: dict[int, list[tuple[str, int]]] = {}
    for ticket_id, key, number in rows:
        found.setdefault(ticket_id, []).append((key, number))
    for ticket_id in wanted:
        cache[ticket_id] = tuple(found.get(ticket_id, ()))


def linked_from_same_mail(
    session: Session, ticket: Ticket, config: RoutingConfig
) -> tuple[LinkedTicket, ...]:
    """The other departments' tickets opened from the same mail as ``ticket``.

    Those are linked and were opened in the same instant (one mail, one ``now``); a ticket
    linked because a reply to a closed one opened it came later and is left out.
    """
    preload_same_mail_links(session, [ticket.id])
    linked = []
    for key, number in work_of(session).known.same_mail_links[ticket.id]:
        department = config.departments.get(key)
        linked.append(LinkedTicket(f"{key}-{number}", department.name if department else key))
    return tuple(linked)
