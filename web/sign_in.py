"""Signing in to the dashboard with a mailed link, and signing out.

- ``GET /signin`` offers a form for an address; ``POST /signin`` mails a link if the
  address is a member, lead or admin, and answers the same words either way (in the
  browser's language, never the member's), so the form tells nobody who works here.
  Clients asking too often are turned away (``web.guard``); one address gets at most a
  few links in a quarter of an hour (``aliasdesk.services.sign_ins``).
- ``GET /signin/{token}`` only shows a button, in the language of the member it was
  mailed to: mail scanners open every link on delivery. ``POST /signin/{token}`` uses
  the link up and sets the session cookie.
- ``POST /signout`` ends the session on the server and drops the cookie.

Every POST carries a form token only this server can make: for the address form one
bound to a random cookie of the browser, for the link one bound to the link, for
signing out one bound to the session.
"""

from __future__ import annotations

import secrets

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from aliasdesk.notify.language import N_, MailLocale
from aliasdesk.services import page_links
from aliasdesk.services.languages import viewer_locale
from aliasdesk.services.sign_ins import (
    LINK_MINUTES,
    SESSION_HOURS,
    Viewer,
    link_address,
    request_link,
    same,
    sign_out,
    signed,
    use_link,
    viewer_of,
)
from web.app import WebContext, client_of, web_of

SESSION_COOKIE = "aliasdesk_session"
FORM_COOKIE = "aliasdesk_form"

REFUSALS: dict[str, tuple[int, str, str]] = {
    "link": (
        404,
        N_("This sign-in link does not work"),
        N_(
            "Sign-in links work once, for %(minutes)s minutes. Please ask for a new one "
            "on the sign-in page."
        ),
    ),
    "form": (
        403,
        N_("This form could not be accepted"),
        N_(
            "It did not come from this site's page. Please open the page again and send the "
            "form from there."
        ),
    ),
    "busy": (
        429,
        N_("Too many attempts"),
        N_("This browser asked too often. Please wait a few minutes."),
    ),
    "no-address": (
        503,
        N_("Signing in is not available"),
        N_("This server has no public address (ALIASDESK_WEB_URL), so it cannot mail links."),
    ),
}
"""Refusals speak the browser's language: nobody is known yet (see ``web.language``)."""


def refusal(context: WebContext, reason: str, wait: int | None = None) -> Response:
    status, title, text = REFUSALS[reason]
    body = context.render("refused.html", title=title, text=text, facts={"minutes": LINK_MINUTES})
    retry = str(wait or context.brake.retry_after())
    headers = {"Retry-After": retry} if reason == "busy" else None
    return HTMLResponse(body, status_code=status, headers=headers)


def _secure() -> bool:
    return (page_links.current().base_url or "").startswith("https://")


def set_cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
    """HttpOnly (no script reads it), SameSite=Lax (no other site's POST carries it),
    Secure whenever the public address is HTTPS."""
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="lax", secure=_secure(), path="/"
    )


def current_viewer(request: Request) -> Viewer | None:
    """Who the request's session cookie speaks for (the caller runs it in a thread)."""
    context = web_of(request)
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if not cookie:
        return None
    with context.db.reader() as session:
        return viewer_of(session, context.secret_key, cookie, context.clock())


def session_form_token(context: WebContext, request: Request) -> str:
    return signed(context.secret_key, "dashboard-form", request.cookies.get(SESSION_COOKIE, ""))


async def form(request: Request) -> Response:
    context = web_of(request)
    browser = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(24)
    signed_out = request.query_params.get("done") == "signed-out"
    notice = N_("You are signed out.") if signed_out else ""
    body = context.render(
        "signin.html",
        form_token=signed(context.secret_key, "sign-in-form", browser),
        notice=notice,
        asked="",
    )
    response = HTMLResponse(body)
    set_cookie(response, FORM_COOKIE, browser, None)
    return response


async def ask(request: Request) -> Response:
    context = web_of(request)
    client = client_of(request)
    if context.sign_in_brake.blocked(client):
        return refusal(context, "busy", context.sign_in_brake.retry_after())
    data = await request.form()
    browser = request.cookies.get(FORM_COOKIE, "")
    expected = signed(context.secret_key, "sign-in-form", browser)
    if not browser or not same(expected, str(data.get("form_token") or "")):
        return refusal(context, "form")
    base_url = page_links.current().base_url
    if not base_url:
        return refusal(context, "no-address")
    context.sign_in_brake.refused(client)  # every ask counts toward the client's allowance
    address = str(data.get("address") or "").strip()[:320]

    def mail_link() -> None:
        with context.db.unit_of_work() as session:
            request_link(session, context.routing(), address, base_url, context.clock())

    body = context.render(
        "signin.html", form_token=expected, notice="", asked=address, minutes=LINK_MINUTES
    )
    # The link is asked for once the answer has gone: a known address costs a write and
    # an unknown one none, and the time to answer must not tell them apart.
    return HTMLResponse(body, background=BackgroundTask(run_in_threadpool, mail_link))


def _link_asked(request: Request) -> tuple[WebContext, str, str] | Response:
    """The context, client and token of a request about a sign-in link; or the refusal
    for a client that has guessed links too often already."""
    context, client = web_of(request), client_of(request)
    if context.brake.blocked(client):
        return refusal(context, "busy")
    return context, client, request.path_params["token"]


async def show_link(request: Request) -> Response:
    asked = _link_asked(request)
    if isinstance(asked, Response):
        return asked
    context, client, token = asked

    def usable() -> MailLocale | None:
        """The language of the member the link was mailed to; None if it is no good."""
        with context.db.reader() as session:
            address = link_address(session, token, context.clock())
            if address is None:
                return None
            return viewer_locale(session, context.routing(), address)

    locale = await run_in_threadpool(usable)
    if locale is None:
        context.brake.refused(client)
        return refusal(context, "link")
    body = context.render(
        "signin_link.html",
        locale,
        token=token,
        form_token=signed(context.secret_key, "link", token),
    )
    return HTMLResponse(body)


async def use(request: Request) -> Response:
    asked = _link_asked(request)
    if isinstance(asked, Response):
        return asked
    context, client, token = asked
    data = await request.form()
    if not same(signed(context.secret_key, "link", token), str(data.get("form_token") or "")):
        return refusal(context, "form")

    def take() -> str | None:
        with context.db.unit_of_work() as session:
            return use_link(session, context.routing(), context.secret_key, token, context.clock())

    cookie = await run_in_threadpool(take)
    if cookie is None:
        context.brake.refused(client)
        return refusal(context, "link")
    response = RedirectResponse("/dashboard", status_code=303)
    set_cookie(response, SESSION_COOKIE, cookie, SESSION_HOURS * 3600)
    return response


async def leave(request: Request) -> Response:
    context = web_of(request)
    data = await request.form()
    if not same(session_form_token(context, request), str(data.get("form_token") or "")):
        return refusal(context, "form")

    def end() -> None:
        viewer = current_viewer(request)
        if viewer is not None:
            with context.db.unit_of_work() as session:
                sign_out(session, viewer, context.clock())

    await run_in_threadpool(end)
    response = RedirectResponse("/signin?done=signed-out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=_secure(), httponly=True)
    return response
