"""The ASGI application: routes, the headers every answer carries, and the request log.

Links carry their token in the path, where a server's access log would write it down
for anyone who reads logs. uvicorn's own access log is therefore off
(``web.server``), and this module logs one line per request with the token cut out.
Every answer tells the browser to send no Referer (the token would leak to any site a
page linked to) and to keep no copy.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aliasdesk.db.session import Database
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.notify.language import MailLocale
from aliasdesk.settings.shipped import template_dir as mail_template_dir
from web.guard import SIGN_IN_ASKS_ALLOWED, SIGN_IN_WINDOW_SECONDS, BadLinkBrake
from web.language import PageTemplates, VisitorLanguage, visitor_locale

log = logging.getLogger("web")
T = TypeVar("T")

PAGE_THREADS = 15
"""Threads that read the database for the ticket pages: as many as the connection pool
gives (five, and ten beyond), since a thread waiting on PostgreSQL's answer holds one.
More would only queue for the GIL and the pool."""
_page_threads = ThreadPoolExecutor(PAGE_THREADS, thread_name_prefix="web-page")


async def in_page_thread(work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` on one of the page threads. The ticket page's answer is mostly the
    hop to a thread and back: a plain executor costs about half of starlette's
    ``run_in_threadpool`` (anyio's limiter and cancel scopes), and caps the threads.
    Context variables go along, as they do with starlette's (the language a page speaks)."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    return await loop.run_in_executor(_page_threads, functools.partial(context.run, work, *args))


SAFETY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
)
_SAFETY_NAMES = frozenset(name for name, _ in SAFETY_HEADERS)
_TOKEN_IN_PATH = re.compile(r"^/(t|signin)/[^/]+")


def redacted_path(path: str) -> str:
    """The path as the log may show it: the link's token (a ticket page's or a sign-in
    link's) replaced."""
    return _TOKEN_IN_PATH.sub(r"/\1/[link]", path)


@dataclass
class WebContext:
    """What every page needs: the database, the rules in force, the key, the templates.

    ``catalog_dir`` holds the catalogs the pages read: the shipped mail templates', whose
    words the pages share (the pages themselves are always the shipped ones, so a copy of
    the mail templates made for other wording never leaves them half translated)."""

    db: Database
    routing: Callable[[], RoutingConfig]
    secret_key: str
    template_dir: Path
    brake: BadLinkBrake = field(default_factory=BadLinkBrake)
    sign_in_brake: BadLinkBrake = field(
        default_factory=lambda: BadLinkBrake(SIGN_IN_ASKS_ALLOWED, SIGN_IN_WINDOW_SECONDS)
    )
    """Sign-in links asked for, per client: each ask mails someone, so it is rationed."""
    pages: PageCache = field(default_factory=lambda: PageCache())
    charts: PageCache = field(default_factory=lambda: PageCache())
    """The dashboard's reports and the pictures drawn of them, by department and version
    (``web.charts``): a reload where no figure moved draws nothing again."""
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    catalog_dir: Path = field(default_factory=mail_template_dir)
    templates: PageTemplates = field(init=False)

    def __post_init__(self) -> None:
        self.templates = PageTemplates(self.template_dir, self.catalog_dir)

    def render(self, name: str, locale: MailLocale | None = None, **values: Any) -> str:
        """The page in ``locale``; without one, in the visitor's browser language (pages
        that must not, or cannot yet, speak any one person's: see ``web.language``)."""
        return self.templates.render(name, locale or visitor_locale(), **values)


def web_of(request: Request) -> WebContext:
    """The context the app was built with, as every page handler needs it."""
    context: WebContext = request.app.state.web
    return context


def client_of(request: Request) -> str:
    """The asking client's address, as the brake on guessed links counts it."""
    return request.client.host if request.client else "unknown"


class PageCache:
    """Ticket pages already built (and rendered), by what the page shows depends on.

    Everything a page shows (a message, a status, an owner, a rating, the SLA timers a
    status change moves) comes with a new ``updated_at`` on the ticket; the keys the
    pages give also hold the requester and the language, and the cache holds pages of
    the rules in force only (it empties when they are reloaded). So a page is rebuilt
    exactly when it could differ, and a requester who reloads, or a mail scanner, costs
    one indexed query.
    """

    LIMIT = 2048

    def __init__(self) -> None:
        self._pages: dict[tuple[Any, ...], Any] = {}
        self._rules: object = None
        self._lock = threading.Lock()

    def get(self, rules: object, key: tuple[Any, ...]) -> Any:
        with self._lock:
            if rules is not self._rules:
                self._pages.clear()
                self._rules = rules
            return self._pages.get(key)

    def put(self, rules: object, key: tuple[Any, ...], page: Any) -> None:
        """Keep ``page`` if it was made under the rules the cache holds pages of."""
        with self._lock:
            if rules is not self._rules:
                return
            if len(self._pages) >= self.LIMIT:
                self._pages.clear()  # simpler than LRU, and a rebuild is cheap
            self._pages[key] = page


class SafeHeadersAndLog:
    """Adds ``SAFETY_HEADERS`` to every answer and logs each request without its token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_safely(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = message.get("headers", [])
                kept = [(k, v) for k, v in headers if k.lower() not in _SAFETY_NAMES]
                message["headers"] = kept + list(SAFETY_HEADERS)
            await send(message)

        try:
            await self.app(scope, receive, send_safely)
        finally:
            log.info(
                "event=http method=%s path=%s status=%d ms=%.1f",
                scope.get("method", ""),
                redacted_path(scope.get("path", "")),
                status,
                (time.perf_counter() - started) * 1000,
            )


def build_app(context: WebContext) -> ASGIApp:
    """The whole site: the ticket page and its forms (see ``web.pages``), the sign-in
    (``web.sign_in``) and the leads' dashboard (``web.dashboard``, its charts ``web.charts``)."""
    from web import charts, dashboard, pages, sign_in

    routes = [
        Route("/", pages.home, methods=["GET"]),
        Route("/t/{token}", pages.show, methods=["GET"]),
        Route("/t/{token}/rate/{rating:int}", pages.offer_rating, methods=["GET"]),
        Route("/t/{token}/reply", pages.reply, methods=["POST"]),
        Route("/t/{token}/solve", pages.solve, methods=["POST"]),
        Route("/t/{token}/rate", pages.rate, methods=["POST"]),
        Route("/t/{token}/language", pages.choose_language, methods=["POST"]),
        Route("/t/{token}/confirm/{nonce}", pages.show_confirmation, methods=["GET"]),
        Route("/t/{token}/confirm/{nonce}", pages.confirm, methods=["POST"]),
        Route("/signin", sign_in.form, methods=["GET"]),
        Route("/signin", sign_in.ask, methods=["POST"]),
        Route("/signin/{token}", sign_in.show_link, methods=["GET"]),
        Route("/signin/{token}", sign_in.use, methods=["POST"]),
        Route("/signout", sign_in.leave, methods=["POST"]),
        Route("/dashboard", dashboard.show, methods=["GET"]),
        Route("/dashboard.csv", dashboard.download, methods=["GET"]),
        Route(charts.CHART_PATH, charts.picture, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.web = context
    return SafeHeadersAndLog(VisitorLanguage(app))
