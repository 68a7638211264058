"""Dashboard sign-in by mailed link, and the sessions those links open.

A member, lead or admin types their address; if the routing file knows it, a link is
mailed there from their department's alias (``sign_in_link``). The link works once, for
``LINK_MINUTES``, and only a POST uses it up: its GET shows a button, so a mail scanner
opening every link on delivery changes nothing. Using it is one conditional UPDATE
(unused, fresh), so two presses of one link, in two tabs or two processes, open one
session, and a crash before the commit leaves the link as it was.

The ``sign_ins`` table keeps the SHA-256 of each token, never the token; the token
travels only in the mail (whose stored copy goes stale with the link). The session
cookie names the row and is signed with the secret key; signing out or the end of
``SESSION_HOURS`` ends it on the server, whatever copy of the cookie is left anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, text, update
from sqlalchemy.orm import Session

from aliasdesk.db.models import SignIn
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.notify.catalogue.sign_in_link import SIGN_IN_LINK
from aliasdesk.services.alerts import alert_sender
from aliasdesk.services.notifications import queue_notification

LINK_MINUTES = 15
SESSION_HOURS = 8
LINKS_PER_ADDRESS = 3
"""Links mailed to one address within ``LINK_MINUTES``; more asks mail nothing more."""
SIGN_IN_PATH = "/signin/"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
_COOKIE = re.compile(r"^([0-9]{1,12})\.([A-Za-z0-9_-]{32})$")


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who a session cookie speaks for: the sign-in row and the address."""

    sign_in_id: int
    address: str


def signed(key: str, purpose: str, *parts: str) -> str:
    """An HMAC-SHA256 over ``parts`` for one purpose, as 32 URL-safe characters."""
    message = b"\0".join([purpose.encode(), *(part.encode() for part in parts)])
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_link(
    session: Session, config: RoutingConfig, address: str, base_url: str, now: datetime
) -> bool:
    """Mail a sign-in link if ``address`` may read a dashboard; whether one was queued
    (the page answers the same either way, so nobody learns who may sign in)."""
    wanted = address.strip().lower()
    departments = config.dashboard_departments(wanted)
    if not departments or "@" not in wanted:
        return False
    _one_ask_at_a_time(session, wanted)
    recent = session.scalar(
        select(func.count())
        .select_from(SignIn)
        .where(SignIn.address == wanted, SignIn.created_at > now - timedelta(minutes=LINK_MINUTES))
    )
    if (recent or 0) >= LINKS_PER_ADDRESS:
        return False
    token = secrets.token_urlsafe(32)
    row = SignIn(token_hash=_hash(token), address=wanted, created_at=now)
    session.add(row)
    session.flush()
    sender, name = _sender(config, wanted)
    queued = queue_notification(
        session,
        kind=SIGN_IN_LINK.name,
        recipient=wanted,
        sender=sender,
        cause=f"sign-in:{row.id}",
        now=now,
        context={
            "sign_in_link": f"{base_url.rstrip('/')}{SIGN_IN_PATH}{token}",
            "department_name": name,
            "valid_minutes": LINK_MINUTES,
        },
        domain=config.domains[0] if config.domains else "aliasdesk.invalid",
    )
    return queued is not None


def _one_ask_at_a_time(session: Session, address: str) -> None:
    """Count and insert as one step for ``address``: on PostgreSQL its asks wait for each
    other until the transaction ends (eight at once made eight links past the cap of
    three); SQLite's writer holds the database lock already."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(address.encode(), digest_size=8, person=b"sign-in").digest()
    key = int.from_bytes(digest, "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _sender(config: RoutingConfig, address: str) -> tuple[str, str]:
    """The alias of the first department the address works in or leads, with its name;
    an admin who is neither gets it from aliasdesk's own no-reply address."""
    for department in config.departments.values():
        if address in department.members or address in department.leads:
            return department.primary_alias, department.name
    return alert_sender(config), "aliasdesk"


def _fresh(token: str, now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        SignIn.token_hash == _hash(token),
        SignIn.used_at.is_(None),
        SignIn.created_at > now - timedelta(minutes=LINK_MINUTES),
    )


def link_address(session: Session, token: str, now: datetime) -> str | None:
    """Whom the link was mailed to, if it would sign in now (so its page can speak their
    language); reads only (its GET must use up nothing)."""
    if not _TOKEN.fullmatch(token):
        return None
    return session.scalar(select(SignIn.address).where(*_fresh(token, now)))


def use_link(
    session: Session, config: RoutingConfig, key: str, token: str, now: datetime
) -> str | None:
    """Use the link up and return the session cookie's value; None when it is malformed,
    unknown, used, stale, or its address may no longer sign in."""
    if not _TOKEN.fullmatch(token):
        return None
    taken = session.execute(
        update(SignIn)
        .where(*_fresh(token, now))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(taken, "rowcount", 0) != 1:
        return None
    row = session.scalar(select(SignIn).where(SignIn.token_hash == _hash(token)))
    if row is None or not config.dashboard_departments(row.address):
        return None
    return f"{row.id}.{_cookie_mac(key, row)}"


def _cookie_mac(key: str, row: SignIn) -> str:
    return signed(key, "dashboard-session", str(row.id), row.address, row.token_hash)


def viewer_of(session: Session, key: str, cookie: str, now: datetime) -> Viewer | None:
    """Who the session cookie speaks for, if it is signed, not signed out and not over."""
    match = _COOKIE.match(cookie)
    if match is None:
        return None
    row = session.get(SignIn, int(match.group(1)))
    expected = _cookie_mac(key, row) if row is not None else signed(key, "none", cookie)
    if not same(expected, match.group(2)) or row is None:
        return None
    if row.used_at is None or row.signed_out_at is not None:
        return None
    if now - row.used_at >= timedelta(hours=SESSION_HOURS):
        return None
    return Viewer(row.id, row.address)


def sign_out(session: Session, viewer: Viewer, now: datetime) -> None:
    """End the session on the server: its cookie opens nothing from now on."""
    session.execute(
        update(SignIn)
        .where(SignIn.id == viewer.sign_in_id, SignIn.signed_out_at.is_(None))
        .values(signed_out_at=now)
        .execution_options(synchronize_session=False)
    )
