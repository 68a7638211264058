"""Serving the pages with uvicorn, in the foreground or (demo, tests) in a thread.

uvicorn's access log is off: it would write every link's token into the log. The
application logs each request itself, with the token cut out (``web.app``).
"""

from __future__ import annotations

import threading
import time

import uvicorn

from aliasdesk.db.session import Database
from aliasdesk.services import page_links
from aliasdesk.services.routing_holder import RoutingHolder
from aliasdesk.settings.env import Settings
from aliasdesk.settings.shipped import web_template_dir
from aliasdesk.settings.web import required_secret_key
from web.app import WebContext, build_app

HOST = "127.0.0.1"
"""Loopback only: put a TLS-terminating proxy in front for the public ALIASDESK_WEB_URL."""


def web_context(settings: Settings, db: Database, routing: RoutingHolder) -> WebContext:
    key = required_secret_key(settings)
    page_links.configure(settings.web_url, key)
    return WebContext(
        db=db, routing=routing.current, secret_key=key, template_dir=web_template_dir()
    )


def server_for(context: WebContext, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        build_app(context),
        host=HOST,
        port=port,
        access_log=False,
        log_config=None,
        server_header=False,
        lifespan="off",
        # The proxy in front, on this machine, says who the visitor is: the per-client
        # limits count them, not the proxy. Said here, so no environment variable of
        # uvicorn's (FORWARDED_ALLOW_IPS) widens whom the header is believed from.
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )
    return uvicorn.Server(config)


def serve_forever(context: WebContext, port: int) -> None:
    """Until Ctrl-C or SIGTERM (uvicorn handles both)."""
    server_for(context, port).run()


class BackgroundServer:
    """The pages served from a thread; ``stop()`` ends it. For the demo and the tests."""

    def __init__(self, context: WebContext, port: int) -> None:
        self.port = port
        self.server = server_for(context, port)  # signals stay with the main thread
        self.thread = threading.Thread(target=self.server.run, name="web", daemon=True)

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
