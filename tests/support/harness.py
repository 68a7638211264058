"""Building a whole aliasdesk process for a test: real database, real SMTP server.

Mail goes in through the same intake the IMAP poller uses (store raw, then process), so
pipeline tests exercise everything but the IMAP wire; tests/e2e add that.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from aliasdesk.relay import drain, inline_dispatch
from aliasdesk.runtime import Runtime, build_runtime
from aliasdesk.services.intake import IntakeResult, RawMail, process_pending, store_raw
from aliasdesk.settings.env import load_settings

ROOT = Path(__file__).resolve().parents[2]
ROUTING = ROOT / "config" / "routing.yaml"
_uids = itertools.count(1)

__all__ = ["ROUTING", "build_mail", "drain_jobs", "feed", "runtime_for"]


def runtime_for(database_url: str, smtp_port: int, **overrides: Any) -> Runtime:
    settings = replace(
        load_settings(environ={}, env_file=None),
        database_url=database_url,
        routing_file=overrides.pop("routing_file", ROUTING),
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_security="none",
        **overrides,
    )
    return build_runtime(settings)


def feed(
    runtime: Runtime, *raws: bytes, mailbox: str = "INBOX", uidvalidity: int = 1
) -> list[IntakeResult]:
    store_raw(
        runtime.db,
        source="imap",
        mailbox=mailbox,
        uidvalidity=uidvalidity,
        mails=[RawMail(raw, next(_uids)) for raw in raws],
    )
    return process_pending(runtime.db, runtime.routing.current, runtime.pipeline_settings)


def drain_jobs(runtime: Runtime, max_wait: float = 20.0) -> int:
    return drain(runtime, inline_dispatch(runtime), max_wait=max_wait)


def build_mail(
    sender: str = "Dave Miller <dave@example.com>",
    to: str = "hr@example.com",
    subject: str = "Parental leave",
    body: str = "Which form do I need?",
    *,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {format_datetime(datetime.now(UTC))}",
        f"Message-ID: {message_id or make_msgid(domain='example.com')}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n") + "\r\n").encode()
