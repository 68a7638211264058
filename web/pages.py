"""The requester's ticket page, its forms (reply, solved, rating, language), and the page
that confirms a reply or "solved" from the link mailed to the requester.

Rules the handlers keep, whatever the route:

- A GET only reads. Mail scanners open every link in a mail on delivery; the rating links
  lead to a page that offers the rating, and only its form's POST records it.
- A reply or "solved" speaks for the requester, and a page link may have been
  forwarded: both are applied only from the confirmation link mailed to the requester's
  own address (``aliasdesk.services.page_confirmations``). A choice of language is
  applied at once: it says nothing in the requester's name, it only changes the words
  of their mail, as their own ``#lang`` would.
- Every POST carries the form token of its page (``page_links.form_token``); without it
  nothing is done, so another site cannot post on the requester's behalf.
- Any link that does not open a ticket (malformed, forged, another requester's, or a
  made-up one) gets the same friendly page and no data, and counts against the client
  (``web.guard``); only a link of a ticket closed long ago is told apart, as expired.
- Database work runs in a worker thread (``in_page_thread``): the ORM is synchronous.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from aliasdesk.db.models import Ticket
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.notify.language import N_
from aliasdesk.services.languages import mail_locale
from aliasdesk.services.page_confirmations import ask_confirmation, carry_out, pending_action
from aliasdesk.services.page_links import (
    LinkRefused,
    OpenedTicket,
    form_token,
    form_token_matches,
    ticket_for_token,
)
from aliasdesk.services.ticket_page import (
    TicketPage,
    language_from_page,
    rate_from_page,
    ticket_page,
)
from web.app import WebContext, client_of, in_page_thread, web_of

Action = Callable[[Session, Ticket, RoutingConfig, datetime], str]

DONE_WORDS: dict[str, str] = {
    "reply": N_("Your reply was added to the request; the team has been told."),
    "empty": N_("There was nothing to add: the reply was empty."),
    "solved": N_("Thank you: your request is marked as solved."),
    "not-solved": N_("The request could not be marked as solved in its current state."),
    "rated": N_("Thank you for your rating."),
    "confirm-sent": N_(
        "We have mailed you a link to confirm this; it is added once you follow it. "
        "Page links travel with forwarded mail, which is why we ask."
    ),
    "confirm-capped": N_("No confirmation mail could be sent just now: please reply to our mail."),
    "confirmed-already": N_("This was confirmed already."),
    "closed": N_(
        "This request is closed, so nothing more can be added here. Please write to us "
        "again: your mail starts a new request."
    ),
    "not-rated": N_("A rating can be given once the request is resolved."),
    "language": N_("Done: this page and our mail to you are now in this language."),
}
"""What the page says after a form was sent (msgids: translated as the page renders)."""

REFUSALS: dict[str, tuple[int, str, str]] = {
    "unknown": (
        404,
        N_("This link does not open a request"),
        N_(
            "It may have been copied incompletely. Please use the link in the latest mail "
            "about your request, or reply to that mail."
        ),
    ),
    "expired": (
        410,
        N_("This link has expired"),
        N_(
            "The request was closed some time ago, so its page is no longer shown. "
            "Write to the department again if you need anything."
        ),
    ),
    "busy": (
        429,
        N_("Too many attempts"),
        N_("This browser tried too many links that do not work. Please wait a few minutes."),
    ),
    "confirmation": (
        404,
        N_("This confirmation link does not work"),
        N_(
            "It may have expired (after 7 days) or been copied incompletely. Please send your "
            "reply from your request's page again."
        ),
    ),
    "form": (
        403,
        N_("This form could not be accepted"),
        N_(
            "It did not come from your request's page. Please open the page again and send "
            "the form from there."
        ),
    ),
}
"""Refusals speak the browser's language, never the ticket's (see ``web.language``)."""


def _refusal(context: WebContext, reason: str) -> Response:
    status, title, text = REFUSALS[reason]
    body = context.render("refused.html", title=title, text=text)
    headers = {"Retry-After": str(context.brake.retry_after())} if reason == "busy" else None
    return HTMLResponse(body, status_code=status, headers=headers)


def _open(
    context: WebContext, connection: Connection, token: str, client: str
) -> OpenedTicket | Response:
    """The ticket the link opens, or the refusal to send instead."""
    if context.brake.blocked(client):
        return _refusal(context, "busy")
    try:
        return ticket_for_token(connection, context.secret_key, token, context.clock())
    except LinkRefused as refused:
        context.brake.refused(client)
        return _refusal(context, "expired" if refused.expired else "unknown")


def _ticket(session: Session, opened: OpenedTicket) -> Ticket:
    ticket = session.get(Ticket, opened.id)
    assert ticket is not None, "the ticket was just read in this transaction"
    return ticket


async def home(request: Request) -> Response:
    body = web_of(request).render(
        "refused.html",
        title=N_("Your requests"),
        text=N_("Open the link in a mail about your request to see it here."),
    )
    return HTMLResponse(body)


async def show(request: Request) -> Response:
    done = request.query_params.get("done", "")
    done = done if done in DONE_WORDS else ""
    return await in_page_thread(
        _show, web_of(request), request.path_params["token"], client_of(request), None, done
    )


async def offer_rating(request: Request) -> Response:
    rating = int(request.path_params["rating"])
    if rating not in range(1, 6):
        return _refusal(web_of(request), "unknown")
    return await in_page_thread(
        _show, web_of(request), request.path_params["token"], client_of(request), rating, ""
    )


def _show(context: WebContext, token: str, client: str, chosen: int | None, done: str) -> Response:
    """The page; built once per change of the ticket (``PageCache``), rendered once per
    link, rating offered and notice shown. A page already rendered costs the link check
    and one indexed query, on a read-only connection (``Database.snapshot``)."""
    config = context.routing()
    with context.db.snapshot() as connection:
        opened = _open(context, connection, token, client)
        if isinstance(opened, Response):
            return opened
        key = (
            opened.id,
            opened.requester,
            opened.updated_at,
            opened.status,
            opened.rating,
            opened.language,  # a page is built in its ticket's language
        )
        shown = (*key, token, chosen, done)
        body = context.pages.get(config, shown)
        if body is not None:
            return HTMLResponse(body)
        page = context.pages.get(config, key)
        if page is None:
            page = _build(connection, opened, config)
            context.pages.put(config, key, page)
    body = context.render(
        "ticket.html",
        page.locale,
        page=page,
        token=token,
        form_token=form_token(context.secret_key, token),
        chosen=chosen if page.can_rate else None,
        asked_to_rate=chosen is not None,
        notice=DONE_WORDS.get(done, ""),
    ).encode()
    context.pages.put(config, shown, body)
    return HTMLResponse(body)


def _build(connection: Connection, opened: OpenedTicket, config: RoutingConfig) -> TicketPage:
    """The page of the ticket just opened, read in the same transaction as the check."""
    with Session(bind=connection) as session:
        return ticket_page(session, _ticket(session, opened), config)


async def reply(request: Request) -> Response:
    form = await request.form()
    text = str(form.get("text") or "")

    def act(session: Session, ticket: Ticket, config: RoutingConfig, now: datetime) -> str:
        if ticket.status == "closed":
            return "closed"  # the page hides the form; a form kept open must not write
        if not text.strip():
            return "empty"
        asked = ask_confirmation(session, ticket, "reply", text, config, now)
        return "confirm-sent" if asked else "confirm-capped"

    return await _post(request, str(form.get("form_token") or ""), act)


async def solve(request: Request) -> Response:
    form = await request.form()

    def act(session: Session, ticket: Ticket, config: RoutingConfig, now: datetime) -> str:
        if ticket.status not in ("new", "open", "pending"):
            return "not-solved"
        asked = ask_confirmation(session, ticket, "solve", "", config, now)
        return "confirm-sent" if asked else "confirm-capped"

    return await _post(request, str(form.get("form_token") or ""), act)


async def rate(request: Request) -> Response:
    form = await request.form()
    chosen = str(form.get("rating") or "")
    comment = str(form.get("comment") or "")[:4000]

    def act(session: Session, ticket: Ticket, config: RoutingConfig, now: datetime) -> str:
        if not chosen.isdigit():
            return "not-rated"
        recorded = rate_from_page(session, ticket, int(chosen), comment, config, now)
        return "rated" if recorded else "not-rated"

    return await _post(request, str(form.get("form_token") or ""), act)


async def choose_language(request: Request) -> Response:
    """The requester's choice of language for their mail and this page (``#lang``)."""
    form = await request.form()
    chosen = str(form.get("language") or "")[:16]

    def act(session: Session, ticket: Ticket, config: RoutingConfig, now: datetime) -> str:
        return "language" if language_from_page(session, ticket, chosen, now) else ""

    return await _post(request, str(form.get("form_token") or ""), act)


async def show_confirmation(request: Request) -> Response:
    return await in_page_thread(
        _show_confirmation,
        web_of(request),
        request.path_params["token"],
        request.path_params["nonce"],
        client_of(request),
    )


def _show_confirmation(context: WebContext, token: str, nonce: str, client: str) -> Response:
    """The confirmation link's page: what was asked, and the button that does it."""
    with context.db.reader() as session:
        opened = _open(context, session.connection(), token, client)
        if isinstance(opened, Response):
            return opened
        ticket = _ticket(session, opened)
        pending = pending_action(session, ticket, nonce, context.clock())
        ref, subject = ticket.ref, ticket.subject
        config = context.routing()
        department = config.departments.get(ticket.department)
        department_name = department.name if department else ticket.department
        locale = mail_locale(session, config, ticket, ticket.requester, "requester")
    if pending is None:
        return _refusal(context, "confirmation")
    body = context.render(
        "confirm.html",
        locale,
        ref=ref,
        subject=subject,
        department_name=department_name,
        pending=pending,
        token=token,
        form_token=form_token(context.secret_key, token),
    )
    return HTMLResponse(body)


async def confirm(request: Request) -> Response:
    form = await request.form()
    nonce = request.path_params["nonce"]
    refused: list[bool] = []

    def act(session: Session, ticket: Ticket, config: RoutingConfig, now: datetime) -> str:
        pending = pending_action(session, ticket, nonce, now, lock=True)
        if pending is None:
            refused.append(True)
            return ""
        return carry_out(session, ticket, pending, config, now)

    answer = await _post(request, str(form.get("form_token") or ""), act)
    return _refusal(web_of(request), "confirmation") if refused else answer


async def _post(request: Request, given: str, action: Action) -> Response:
    token = request.path_params["token"]
    return await in_page_thread(_act, web_of(request), token, client_of(request), given, action)


def _act(context: WebContext, token: str, client: str, given: str, action: Action) -> Response:
    """Check the link, then the form token, then act in one unit of work; the answer is
    a redirect to the page (a reload then repeats nothing)."""
    with context.db.unit_of_work() as session:
        opened = _open(context, session.connection(), token, client)
        if isinstance(opened, Response):
            return opened
        if not form_token_matches(context.secret_key, token, given):
            return _refusal(context, "form")
        done = action(session, _ticket(session, opened), context.routing(), context.clock())
    return RedirectResponse(f"/t/{token}?done={done}", status_code=303)
