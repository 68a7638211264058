"""Which language a person's mail is written in, and in which time zone its times are.

CONTRACT §5, in this order: the person's own choice (``#lang de``, kept per address in
``language_choices``), the language of their earlier tickets, the language their request
is written in, the department's default (``language:`` in the routing file). The choice
is made once, when the ticket opens, and stored on the ticket, so every later mail of the
ticket (status, feedback) speaks the same language unless the person chooses another.

Members read their own language from the routing file, else their department's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aliasdesk.db.models import LanguageChoice, Ticket, TicketMessage
from aliasdesk.db.unit_of_work import work_of
from aliasdesk.domain.languages import LANGUAGES, choose_language, known_language
from aliasdesk.domain.organisation import Department, RoutingConfig
from aliasdesk.domain.sla_clock import calendar_of
from aliasdesk.notify.catalogue.kind import Audience
from aliasdesk.notify.language import MailLocale
from aliasdesk.services.language_detection import detect_language as detect_language
from aliasdesk.services.language_detection import text_key
from aliasdesk.services.language_detection import warm_up as warm_up


def department_timezone(department: Department | None) -> str:
    """The zone a department's mail shows times in: its calendar's (UTC round the clock
    and for mail about no department). The one place that decides."""
    return calendar_of(department).timezone


def preload_requester_languages(session: Session, requesters: Sequence[str]) -> None:
    """Before a batch of new tickets chooses their languages: every requester's own choice
    and earlier tickets' language in two queries, instead of two per ticket."""
    known = work_of(session).known
    wanted = list(dict.fromkeys(requesters))
    keys = list(dict.fromkeys(address.strip().lower() for address in wanted))
    if not wanted:
        return
    chosen = session.execute(
        select(LanguageChoice.address, LanguageChoice.language).where(
            LanguageChoice.address.in_(keys)
        )
    )
    known.own_languages.update(dict.fromkeys(keys))
    known.own_languages.update({address: language for address, language in chosen})
    latest = (
        select(func.max(Ticket.id))
        .where(Ticket.requester.in_(wanted), Ticket.language.is_not(None))
        .group_by(Ticket.requester)
    )
    rows = session.execute(select(Ticket.requester, Ticket.language).where(Ticket.id.in_(latest)))
    known.earlier_languages.update(dict.fromkeys(wanted))
    known.earlier_languages.update({requester: language for requester, language in rows})


def own_choice(session: Session, address: str) -> str | None:
    key = address.strip().lower()
    preloaded = work_of(session).known.own_languages
    if key in preloaded:
        return preloaded[key]
    row = session.get(LanguageChoice, key)
    return row.language if row is not None else None


def choose_own_language(session: Session, address: str, language: str, now: datetime) -> None:
    """Keep ``#lang`` for this address: it counts on every ticket from now on."""
    key = address.strip().lower()
    row = session.get(LanguageChoice, key)
    if row is None:
        session.add(LanguageChoice(address=key, language=language, chosen_at=now))
    else:
        row.language, row.chosen_at = language, now
    preloaded = work_of(session).known.own_languages
    if key in preloaded:
        preloaded[key] = language


def _earlier_language(session: Session, ticket: Ticket) -> str | None:
    preloaded = work_of(session).known.earlier_languages
    if ticket.requester in preloaded:
        return preloaded[ticket.requester]
    return session.scalar(
        select(Ticket.language)
        .where(
            Ticket.requester == ticket.requester,
            Ticket.id != ticket.id,
            Ticket.language.is_not(None),
        )
        .order_by(Ticket.id.desc())
        .limit(1)
    )


def _request_text(session: Session, ticket: Ticket) -> str:
    preloaded = work_of(session).known.first_texts  # a batch's, read in one query
    if ticket.id in preloaded:
        return f"{ticket.subject}\n{preloaded[ticket.id]}"
    first = session.scalar(
        select(TicketMessage.text)
        .where(TicketMessage.ticket_id == ticket.id)
        .order_by(TicketMessage.id)
        .limit(1)
    )
    return f"{ticket.subject}\n{first or ''}"


def ticket_language(session: Session, ticket: Ticket, config: RoutingConfig) -> str:
    """The language for a new ticket's requester, in the contract's order. Each source is
    asked only when those before it had no usable answer: reading the request for its
    language (the costliest step of assigning a ticket) is skipped for a requester whose
    choice or earlier tickets decide."""
    department = config.departments.get(ticket.department)
    chosen = known_language(own_choice(session, ticket.requester)) or known_language(
        _earlier_language(session, ticket)
    )
    if chosen is None:
        detected = work_of(session).known.detected_languages
        chosen = choose_language(
            own_choice=None,
            earlier=None,
            detected=(
                detected[ticket.id]
                if ticket.id in detected
                else detect_language(_request_text(session, ticket))
            ),
            department_default=department.language if department else None,
        )
    preloaded = work_of(session).known.earlier_languages
    if ticket.requester in preloaded:  # the next ticket of the batch sees this one's
        preloaded[ticket.requester] = chosen
    return chosen


def mail_locale(
    session: Session,
    config: RoutingConfig,
    ticket: Ticket | None,
    recipient: str,
    audience: Audience,
    department_key: str | None = None,
) -> MailLocale:
    """How one mail speaks: the requester side in the ticket's language (a watcher in
    their own choice, if they made one), members in theirs or their department's.

    Staff mail about no one ticket (a digest, a weekly report) speaks as a member's mail
    does, for the department it is about (``department_key``), else the recipient's
    first department, whose clock such a mail already follows."""
    if ticket is not None:
        department = config.departments.get(ticket.department)
    elif audience == "staff":
        department = _staff_department(config, department_key, recipient)
    else:
        department = None
    zone = department_timezone(department)
    fallback = department.language if department else None
    if audience == "member" and ticket is not None and not config.is_staff(recipient):
        # Someone outside the departments reading a member's mail about a ticket (the
        # answer to a requester's commands) reads it as the requester side does.
        audience = "requester"
    if audience == "requester" and ticket is not None:
        mine = recipient.strip().lower() == ticket.requester.lower()
        chosen = None if mine else own_choice(session, recipient)
        language = chosen or ticket.language or fallback
    elif audience in ("member", "staff"):
        language = _member_language(config, department, recipient) or fallback
    else:
        language = own_choice(session, recipient) or fallback
    return MailLocale(known_language(language) or LANGUAGES[0], zone)


def viewer_locale(session: Session, config: RoutingConfig, address: str) -> MailLocale:
    """How the dashboard (and a sign-in link's page) speaks to someone signing in: as
    their mail as a member does, for the first department they work in, else the first
    they may read (a lead's, an admin's)."""
    keys = config.departments_of_member(address) or config.dashboard_departments(address)
    return mail_locale(session, config, None, address, "staff", keys[0] if keys else None)


def _staff_department(
    config: RoutingConfig, department_key: str | None, address: str
) -> Department | None:
    if department_key is not None and department_key in config.departments:
        return config.departments[department_key]
    theirs = config.departments_of_member(address)
    return config.departments[theirs[0]] if theirs else None


def _member_language(
    config: RoutingConfig, department: Department | None, address: str
) -> str | None:
    if department is not None and department.language_of(address):
        return department.language_of(address)
    return config.member_language(address)


def detect_ahead(
    session: Session,
    tickets: Sequence[Ticket],
    classified: Mapping[int, str | None] | None = None,
) -> dict[int, str | None]:
    """The detected language of each new ticket whose requester's own choice or earlier
    tickets will not decide, read in ``session`` (a reader) before the batch's write
    transaction: detection is the costliest step of assigning a ticket, and the write
    lock is the one thing every process waits for. The transaction takes the results
    into its ``detected_languages`` and asks the same questions again in the same order;
    a detection it no longer needs (another process's ``#lang`` in between) is unused.

    ``classified`` holds texts already classified elsewhere, by :func:`text_key`: which tickets
    are detected is decided here all the same, only the classifying is skipped."""
    choosing = [ticket for ticket in tickets if ticket.language is None]
    preload_requester_languages(session, [ticket.requester for ticket in choosing])
    known = work_of(session).known
    undecided = [
        ticket
        for ticket in choosing
        if known_language(own_choice(session, ticket.requester)) is None
        and known_language(known.earlier_languages.get(ticket.requester)) is None
    ]
    return {
        ticket.id: _detected(_request_text(session, ticket), classified) for ticket in undecided
    }


def _detected(text: str, classified: Mapping[int, str | None] | None) -> str | None:
    if classified:
        key = text_key(text)
        if key in classified:
            return classified[key]
    return detect_language(text)
