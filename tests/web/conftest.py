"""A desk whose mail links to its ticket pages, and a client for those pages.

The desk is a real one (tests/support/harness.py): requests go through the intake,
answers reach a real SMTP server, and the links the tests follow are the ones found in
that mail, never built by the test.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage

import pytest
from starlette.testclient import TestClient

from aliasdesk.runtime import Runtime
from aliasdesk.services import page_links
from aliasdesk.settings.shipped import web_template_dir
from gateway.local_servers import SmtpSink
from tests.support.harness import build_mail, drain_jobs, feed, runtime_for
from web.app import WebContext, build_app

BASE = "https://desk.example.com"
KEY = "test-key-0123456789-abcdefghijklmnopqrstuvwxyz"
AUTHSERV = "mx.example.com"
DAVE = "Dave Miller <dave@example.com>"
_LINK = re.compile(r"https://desk\.example\.com(/t/[A-Za-z0-9._-]+(?:/rate/[1-5])?)")


@pytest.fixture
def desk(database_url: str, smtp_sink: SmtpSink) -> Iterator[Runtime]:
    runtime = runtime_for(
        database_url, smtp_sink.port, web_url=BASE, secret_key=KEY, authserv_id=AUTHSERV
    )
    yield runtime
    runtime.close()
    page_links.configure(None, None)


def web_context(runtime: Runtime) -> WebContext:
    return WebContext(
        db=runtime.db,
        routing=runtime.routing.current,
        secret_key=KEY,
        template_dir=web_template_dir(),
    )


@pytest.fixture
def site(desk: Runtime) -> WebContext:
    return web_context(desk)


@pytest.fixture
def client(site: WebContext) -> Iterator[TestClient]:
    with TestClient(build_app(site), base_url=BASE, follow_redirects=False) as browser:
        yield browser


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


@dataclass
class Caught:
    """One mail the SMTP server received: who for, what kind, its parts."""

    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        return text_of(self.message)

    def links(self) -> list[str]:
        return _LINK.findall(self.text)


def caught(sink: SmtpSink) -> list[Caught]:
    return [Caught(list(m.rcpt_tos), parsed(m.data)) for m in sink.messages]


def mail_to(sink: SmtpSink, address: str, words: str) -> Caught:
    """The last mail to ``address`` whose text has ``words``."""
    found = [c for c in caught(sink) if address in c.recipients and words in c.text]
    assert found, f"no mail to {address} saying {words!r}"
    return found[-1]


def open_request(
    runtime: Runtime, sink: SmtpSink, body: str = "Which form do I need?"
) -> tuple[str, str]:
    """Dave writes to HR; returns the ticket's reference and the page path from the
    acknowledgement he received."""
    feed(runtime, build_mail(DAVE, body=body))
    drain_jobs(runtime)
    ack = mail_to(sink, "dave@example.com", "Your request is now ticket")
    ref = re.search(r"ticket (HR-\d+)", ack.text)
    assert ref is not None
    links = ack.links()
    assert len(links) == 1, ack.text
    return ref.group(1), links[0]


def member_mail(ref: str, body: str, sender: str = "Alice Archer <alice@example.com>") -> bytes:
    """A member's reply our receiving server vouched for (DMARC pass)."""
    return build_mail(
        sender,
        subject=f"Re: [{ref}] Parental leave",
        body=body,
        headers={"Authentication-Results": f"{AUTHSERV}; dmarc=pass header.from=example.com"},
    )
