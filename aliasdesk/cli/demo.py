"""``aliasdesk demo``: the whole path on embedded parts, told as a short story.

A bundled IMAP server (pymap) and an SMTP sink (aiosmtpd) on free loopback ports, a
temporary SQLite database and the embedded broker: nothing to install, nothing left behind.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import secrets
import tempfile
import threading
import time
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from aliasdesk.cli.demo_mail import first_wave, second_wave, third_wave
from aliasdesk.cli.run import run_all
from aliasdesk.cli.stopping import stop_event
from aliasdesk.db.models import Delivery, InboundMail, Ticket
from aliasdesk.notify.template_check import require_templates
from aliasdesk.runtime import Runtime, build_runtime
from aliasdesk.services.page_links import page_link
from aliasdesk.settings.env import PREFIX, Settings, load_settings
from aliasdesk.settings.environment import environment_subset
from aliasdesk.settings.shipped import example_routing_file
from gateway.local_servers import LocalImapServer, SmtpSink, free_port
from web.server import BackgroundServer, web_context

TEMPLATE_VARIABLE = PREFIX + "TEMPLATE_DIR"


def _base_settings() -> Settings:
    """The demo's own settings: nothing from the environment or ``.env`` but the template
    folder, so a template author can watch their templates in the story."""
    chosen = environment_subset([TEMPLATE_VARIABLE])
    return load_settings(environ=chosen, env_file=None)


def _settings(base: Settings, workdir: Path, imap: LocalImapServer, sink: SmtpSink) -> Settings:
    return replace(
        base,
        database_url=f"sqlite:///{workdir / 'demo.db'}",
        broker_url="embedded",
        routing_file=example_routing_file(),
        imap_host=imap.host,
        imap_port=imap.port,
        imap_username=imap.username,
        imap_password=imap.password,
        imap_security="none",
        imap_poll_interval=1,
        smtp_host=sink.host,
        smtp_port=sink.port,
        smtp_security="none",
    )


def _say(text: str = "") -> None:
    print(text, flush=True)


def _wave(runtime: Runtime, imap: LocalImapServer, mails: list[tuple[str, bytes]]) -> list[int]:
    with runtime.db.reader() as session:
        before = session.scalar(select(InboundMail.id).order_by(InboundMail.id.desc())) or 0
    for label, raw in mails:
        _say(f"  -> {label}")
        imap.append(raw)
    run_all(runtime, once=True, stop=None)
    with runtime.db.reader() as session:
        return list(
            session.scalars(
                select(InboundMail.id).where(InboundMail.id > before).order_by(InboundMail.id)
            )
        )


def _tell(runtime: Runtime, inbound_ids: list[int], sink: SmtpSink) -> None:
    with runtime.db.reader() as session:
        for inbound_id in inbound_ids:
            row = session.get(InboundMail, inbound_id)
            assert row is not None
            refs = json.loads(row.ticket_refs or "[]")
            _say(f'  mail #{row.id} from {row.from_address or "(nobody)"}: "{row.subject or ""}"')
            _say(f"     {row.outcome}: {row.reason}")
            for ref in refs:
                dept, _, number = ref.partition("-")
                ticket = session.scalar(
                    select(Ticket).where(Ticket.department == dept, Ticket.number == int(number))
                )
                if ticket is None:
                    continue
                _say(
                    f"     {ref}: status {ticket.status}, owner {ticket.owner or 'nobody'}"
                    + (f", rated {ticket.rating}/5" if ticket.rating else "")
                )
    with runtime.db.reader() as session:
        rows = session.execute(select(Delivery.message_id, Delivery.kind)).all()
        kinds = {message_id: kind for message_id, kind in rows}
    _say("  mail sent:" if sink.messages else "  no mail sent")
    for message in sink.messages:
        parsed = email.message_from_bytes(message.data, policy=email.policy.default)
        kind = kinds.get(str(parsed["Message-ID"]), "mail").replace("_", " ")
        _say(f'     {kind:<16} to {", ".join(message.rcpt_tos)}: "{parsed["Subject"]}"')
        if kind == "sign in link":
            _say(f"     the link in it: {_sign_in_link(parsed)}")
    sink.clear()


def _with_pages(settings: Settings) -> tuple[Settings, int]:
    """``--serve`` also serves the ticket pages, so the demo's mail links to them."""
    port = free_port()
    web_url = f"http://127.0.0.1:{port}"
    return replace(settings, web_url=web_url, secret_key=secrets.token_urlsafe(32)), port


def run_demo(*, serve: bool = False) -> int:
    started = time.monotonic()
    base = _base_settings()
    require_templates(base.template_dir)
    pages: BackgroundServer | None = None
    with (
        tempfile.TemporaryDirectory(prefix="aliasdesk-demo-") as tmp,
        LocalImapServer() as imap,
        SmtpSink() as sink,
    ):
        workdir = Path(tmp)
        settings = _settings(base, workdir, imap, sink)
        port = 0
        if serve:
            settings, port = _with_pages(settings)
        runtime = build_runtime(settings)
        try:
            if serve:
                context = web_context(settings, runtime.db, runtime.routing)
                pages = BackgroundServer(context, port).start()
            _say(
                f"aliasdesk demo: IMAP on 127.0.0.1:{imap.port}, "
                f"SMTP sink on 127.0.0.1:{sink.port}, SQLite in {workdir}"
            )
            _say("\n1. A morning's mail arrives at the department aliases:")
            _tell(runtime, _wave(runtime, imap, first_wave()), sink)
            hr_ref, hr_owner, assignment = _hr_ticket(runtime)
            _say(f"\n2. {hr_owner} works {hr_ref} by replying from their own mail client:")
            _tell(runtime, _wave(runtime, imap, second_wave(hr_ref, hr_owner, assignment)), sink)
            _say("\n3. The requester answers the feedback request:")
            _tell(runtime, _wave(runtime, imap, third_wave(hr_ref)), sink)
            _summary(runtime)
            _say(f"\nDone in {time.monotonic() - started:.1f} s.")
            if serve:
                _say(f"\nThe requester's page of {hr_ref}: {_page_of(runtime, hr_ref)}")
                _say(
                    f"The leads' dashboard: {settings.web_url}/signin (sign in as "
                    "hanna@example.com, HR's lead; the link mailed there is printed here)"
                )
                _serve(runtime, imap, sink)
        finally:
            if pages is not None:
                pages.stop()
            runtime.close()
    return 0


def _sign_in_link(message: email.message.Message) -> str:
    """The sign-in link a demo mail carries: the demo's sink is the only mailbox."""
    body = message.get_body(("plain",)) if isinstance(message, EmailMessage) else None
    found = re.search(r"http://\S+/signin/\S+", str(body.get_content()) if body else "")
    return found.group(0) if found else "(none)"


def _hr_ticket(runtime: Runtime) -> tuple[str, str, str]:
    """The HR request, its owner, and the assignment mail the owner will answer (answering
    our own mail is what shows aliasdesk the reply really is the owner's)."""
    with runtime.db.reader() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.department == "HR").order_by(Ticket.id))
        assert ticket is not None and ticket.owner is not None, "the HR request has no owner"
        assignment = session.scalar(
            select(Delivery.message_id).where(
                Delivery.ticket_id == ticket.id, Delivery.recipient == ticket.owner
            )
        )
        assert assignment is not None, "the HR owner got no assignment mail"
        return ticket.ref, ticket.owner, assignment


def _page_of(runtime: Runtime, ref: str) -> str:
    """The link the requester of ``ref`` finds in every mail about it."""
    dept, _, number = ref.partition("-")
    with runtime.db.reader() as session:
        ticket = session.scalar(
            select(Ticket).where(Ticket.department == dept, Ticket.number == int(number))
        )
        assert ticket is not None
        return page_link(ticket, ticket.requester)


def _summary(runtime: Runtime) -> None:
    with runtime.db.reader() as session:
        tickets = session.scalars(select(Ticket).order_by(Ticket.id)).all()
        sent = session.scalars(select(Delivery).where(Delivery.state == "sent")).all()
        quarantined = session.scalars(
            select(InboundMail).where(InboundMail.state == "quarantined")
        ).all()
    _say("\nWhere things stand:")
    for t in tickets:
        _say(f"  {t.ref:<7} {t.status:<9} owner {t.owner or 'nobody':<22} {t.subject}")
    _say(
        f"  {len(sent)} mails sent, {len(quarantined)} mail(s) in quarantine "
        "(see `aliasdesk quarantine list`)"
    )


def _serve(runtime: Runtime, imap: LocalImapServer, sink: SmtpSink) -> None:
    _say(
        f"\nServing. Append mail to IMAP 127.0.0.1:{imap.port} "
        f"(user {imap.username}, password {imap.password}); sent mail is printed here. "
        "Ctrl-C stops."
    )
    stop = stop_event()
    thread = threading.Thread(
        target=run_all, args=(runtime,), kwargs={"once": False, "stop": stop}, daemon=True
    )
    thread.start()
    while not stop.is_set():
        stop.wait(1.0)
        if sink.messages:
            _tell(runtime, [], sink)
