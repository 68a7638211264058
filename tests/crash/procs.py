"""Process control and auditing for the crash and fault tests.

``AliasdeskProcess`` runs one real ``aliasdesk gateway|worker|run`` child with a given
environment and kills it for real (SIGKILL, no clean-up, as an OOM kill or a power cut
would). ``Progress`` reads the database the processes share, to know when the system has
settled. ``Workload`` builds a mixed set of requests and replies and ``audit`` checks, from
the user's side (``aliasdesk mail list``, ``aliasdesk tickets list``, the SMTP sink), that
nothing was lost, doubled or sent twice in two different versions.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from tests.support.backends import broker_env
from tests.support.harness import ROUTING, build_mail

ROOT = Path(__file__).resolve().parents[2]
ALIASDESK = shutil.which("aliasdesk", path=str(Path(sys.executable).parent)) or "aliasdesk"
FULL = os.environ.get("ALIASDESK_RELIABILITY_FULL", "").lower() in {"1", "true", "yes"}

# Shortened timers so recovery is visible in seconds, not minutes. The claim lease stays far
# above what the loopback SMTP servers need to answer, so a healthy send is never taken over.
FAST_TIMERS = {
    "ALIASDESK_CLAIM_LEASE_SECONDS": "6",
    "ALIASDESK_RETRY_BASE_SECONDS": "0.5",
    "ALIASDESK_PUBLISH_LEASE_SECONDS": "8",
    "ALIASDESK_IMAP_POLL_INTERVAL": "1",
    "dramatiq_worker_timeout": "100",
    "ALIASDESK_WORKER_IDLE_MS": "100",
    # These runs mail hundreds of requesters a minute on purpose; the outside-mail breaker
    # would hold most of it (tests/pipeline/test_outside_mail_breaker.py covers it).
    "ALIASDESK_OUTSIDE_MAIL_PER_MINUTE": "0",
}


def publish_lease_is_configurable() -> bool:
    """Whether the outbox sweeper honours ALIASDESK_PUBLISH_LEASE_SECONDS (else 180 s)."""
    source = (ROOT / "aliasdesk" / "services" / "outbox.py").read_text()
    return "ALIASDESK_PUBLISH_LEASE_SECONDS" in source


# Until aliasdesk/services/outbox.py reads ALIASDESK_PUBLISH_LEASE_SECONDS itself, the child
# applies it to the module constant before the command starts (the sweeper reads the constant
# on every pass). Once outbox.py honours the variable this is a plain ``aliasdesk ROLE``.
_LEASE_SHIM = (
    "import os, sys\n"
    "from datetime import timedelta\n"
    "import aliasdesk.services.outbox as outbox\n"
    "value = os.environ.get('ALIASDESK_PUBLISH_LEASE_SECONDS')\n"
    "if value: outbox.PUBLISH_LEASE = timedelta(seconds=float(value))\n"
    "from aliasdesk.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def command_for(role: str) -> list[str]:
    if publish_lease_is_configurable():
        return [ALIASDESK, role]
    return [sys.executable, "-c", _LEASE_SHIM, role]


def settle_budget(base: float) -> float:
    """How long a run may take to settle (kept as one place to widen it)."""
    return base


def aliasdesk_env(
    *,
    database_url: str,
    broker_url: str,
    imap: Any,
    smtp_port: int,
    routing: Path = ROUTING,
    **extra: str,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    env.update(FAST_TIMERS)
    env.update(
        ALIASDESK_DATABASE_URL=database_url,
        ALIASDESK_BROKER_URL=broker_url,
        ALIASDESK_ROUTING_FILE=str(routing),
        ALIASDESK_IMAP_HOST=imap.host,
        ALIASDESK_IMAP_PORT=str(imap.port),
        ALIASDESK_IMAP_USERNAME=imap.username,
        ALIASDESK_IMAP_PASSWORD=imap.password,
        ALIASDESK_IMAP_SECURITY="none",
        ALIASDESK_SMTP_HOST="127.0.0.1",
        ALIASDESK_SMTP_PORT=str(smtp_port),
        ALIASDESK_SMTP_SECURITY="none",
    )
    env.update(broker_env(broker_url))
    env.update(extra)
    return env


def cli_json(env: dict[str, str], *args: str) -> Any:
    """Run an ``aliasdesk`` read command with --json and return what it printed."""
    result = subprocess.run(
        [ALIASDESK, *args, "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, f"aliasdesk {' '.join(args)}: {result.stderr[-3000:]}"
    return json.loads(result.stdout)


def migrate(env: dict[str, str]) -> None:
    """Create the schema once, so processes started side by side do not race to make it."""
    result = subprocess.run(
        [ALIASDESK, "db", "upgrade"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


class AliasdeskProcess:
    """One ``aliasdesk`` child process that can be started, SIGKILLed and started again."""

    def __init__(
        self,
        role: str,
        env: dict[str, str],
        log_dir: Path,
        name: str = "",
        args: Sequence[str] = (),
    ) -> None:
        self.role = role
        self.args = list(args)
        self.name = name or role
        self.env = env
        self.log_path = log_dir / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        assert not self.alive, f"{self.name} is running already"
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start {self.starts + 1} ===\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [*command_for(self.role), *self.args],
                env=self.env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL the whole process group: no handler runs, nothing is flushed."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.kills += 1

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        """A clean stop (SIGTERM), SIGKILL if it hangs; used at the end of a test."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def exited_badly(self) -> bool:
        """It ended by itself (not killed by us), which a long-running role must never do."""
        return self.process is not None and self.process.poll() is not None

    def is_up(self) -> bool:
        """Its latest start got as far as the start line (settings, schema and templates done)."""
        if not self.alive or not self.log_path.exists():
            return False
        latest = self.log_path.read_text(errors="replace").rsplit("=== start ", 1)[-1]
        return "event=start" in latest

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Fleet:
    """The processes of one test, killed at random moments by ``kill_at_random``."""

    members: list[AliasdeskProcess]
    rng: random.Random = field(default_factory=random.Random)

    def start(self) -> None:
        for member in self.members:
            member.start()

    def stop(self) -> None:
        """SIGTERM to all at once, then wait for each (SIGKILL if one hangs)."""
        for member in self.members:
            if member.alive and member.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    member.process.send_signal(signal.SIGTERM)
        for member in self.members:
            member.stop()

    def kill_at_random(self) -> list[str]:
        """Kill one member, or now and then all of them at once, and start them again."""
        victims = self.members if self.rng.random() < 0.2 else [self.rng.choice(self.members)]
        for victim in victims:
            victim.kill()
        for victim in victims:
            victim.start()
        return [v.name for v in victims]

    @property
    def kills(self) -> int:
        return sum(m.kills for m in self.members)

    def wait_up(self, timeout: float = 60.0) -> bool:
        return wait_until(lambda: all(m.is_up() for m in self.members), timeout, interval=0.05)

    def crashed(self) -> list[str]:
        return [m.name for m in self.members if m.exited_badly()]

    def logs(self) -> str:
        return "\n".join(f"--- {m.name} ---\n{m.log_tail()}" for m in self.members)


class Progress:
    """Read-only look at the shared database: is everything taken in and sent?"""

    def __init__(self, database_url: str) -> None:
        self.engine: Engine = create_engine(database_url, pool_pre_ping=True)

    def _count(self, sql: str) -> int:
        try:
            with self.engine.connect() as conn:
                return int(conn.execute(text(sql)).scalar() or 0)
        except Exception:
            return -1  # schema not made yet, or the database is busy: not settled

    def stored(self) -> int:
        return self._count("SELECT count(*) FROM inbound_mail")

    def waiting(self) -> int:
        return self._count("SELECT count(*) FROM inbound_mail WHERE state = 'received'")

    def unfinished_jobs(self) -> int:
        return self._count("SELECT count(*) FROM jobs WHERE state != 'done'")

    def unsent(self) -> int:
        return self._count("SELECT count(*) FROM deliveries WHERE state IN ('pending', 'sending')")

    def tickets(self) -> int:
        return self._count("SELECT count(*) FROM tickets")

    def settled(self, expected_mails: int) -> bool:
        return (
            self.stored() >= expected_mails
            and self.waiting() == 0
            and self.unfinished_jobs() == 0
            and self.unsent() == 0
        )

    def close(self) -> None:
        self.engine.dispose()


# -- the mail a test sends ----------------------------------------------------------------

ALIASES = ["hr@example.com", "it@example.com", "facilities@example.com", "finance@example.com"]


@dataclass(frozen=True)
class Request:
    message_id: str
    requester: str
    subject: str
    raw: bytes


@dataclass(frozen=True)
class Reply:
    message_id: str
    request: Request
    raw: bytes


@dataclass
class Workload:
    """New requests, each from its own requester (the hourly auto-answer cap is per
    sender), and replies by requesters to their earlier requests, in mailbox order."""

    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    requests: list[Request] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def next_mails(self, count: int, reply_share: float = 0.3) -> list[bytes]:
        out: list[bytes] = []
        for _ in range(count):
            if self.requests and self.rng.random() < reply_share:
                out.append(self._reply(self.rng.choice(self.requests)).raw)
            else:
                out.append(self._request().raw)
        return out

    def _request(self) -> Request:
        n = len(self.requests) + 1
        requester = f"staff{n}.{self.tag}@example.com"
        subject = f"Request {n} {self.tag}"
        message_id = f"<req{n}.{self.tag}@example.com>"
        raw = build_mail(
            requester,
            ALIASES[n % len(ALIASES)],
            subject,
            f"Please help with item {n}.",
            message_id=message_id,
        )
        request = Request(message_id, requester, subject, raw)
        self.requests.append(request)
        return request

    def _reply(self, request: Request) -> Reply:
        n = len(self.replies) + 1
        message_id = f"<rep{n}.{self.tag}@example.com>"
        raw = build_mail(
            request.requester,
            ALIASES[int(request.message_id[4:].split(".")[0]) % len(ALIASES)],
            f"Re: {request.subject}",
            f"Any news on this? (follow-up {n})",
            message_id=message_id,
            headers={"In-Reply-To": request.message_id, "References": request.message_id},
        )
        reply = Reply(message_id, request, raw)
        self.replies.append(reply)
        return reply

    @property
    def message_ids(self) -> list[str]:
        return [r.message_id for r in self.requests] + [r.message_id for r in self.replies]


# -- checking what came out ---------------------------------------------------------------


@dataclass
class SentMail:
    recipient: str
    message_id: str
    in_reply_to: str
    auto_submitted: str
    subject: str
    data: bytes


def parse_sent(messages: Iterable[Any]) -> list[SentMail]:
    """The sink's mails, one entry per recipient (``.rcpt_tos``/``.data`` of either sink)."""
    out: list[SentMail] = []
    for item in messages:
        message = email.message_from_bytes(item.data, policy=email.policy.compat32)
        for rcpt in item.rcpt_tos:
            out.append(
                SentMail(
                    recipient=rcpt.lower(),
                    message_id=str(message.get("Message-ID", "")).strip(),
                    in_reply_to=str(message.get("In-Reply-To", "")).strip(),
                    auto_submitted=str(message.get("Auto-Submitted", "")).strip().lower(),
                    subject=str(message.get("Subject", "")),
                    data=item.data,
                )
            )
    return out


@dataclass
class Audit:
    """What the user-facing outputs say about one run."""

    mails: int = 0
    lost: list[str] = field(default_factory=list)
    processed_twice: list[str] = field(default_factory=list)
    extra_entries: int = 0
    quarantined: list[str] = field(default_factory=list)
    tickets_missing: list[str] = field(default_factory=list)
    tickets_doubled: list[str] = field(default_factory=list)
    replies_unthreaded: list[str] = field(default_factory=list)
    acks_missing: list[str] = field(default_factory=list)
    acks_doubled: list[str] = field(default_factory=list)
    different_duplicates: list[str] = field(default_factory=list)
    same_id_resends: int = 0
    sent: int = 0

    def problems(self) -> dict[str, Any]:
        found = {
            "lost": self.lost,
            "processed twice": self.processed_twice,
            "log entries beyond one per fetched mail": self.extra_entries,
            "quarantined": self.quarantined,
            "requests without a ticket": self.tickets_missing,
            "requests with two tickets": self.tickets_doubled,
            "replies that did not update their ticket": self.replies_unthreaded,
            "requests without an acknowledgement": self.acks_missing,
            "requests acknowledged twice (different Message-IDs)": self.acks_doubled,
            "same Message-ID sent with different bytes": self.different_duplicates,
        }
        return {k: (v[:10] if isinstance(v, list) else v) for k, v in found.items() if v}

    def figures(self) -> dict[str, Any]:
        return {
            "mails": self.mails,
            "lost": len(self.lost),
            "tickets_doubled": len(self.tickets_doubled),
            "different_duplicates": len(self.different_duplicates),
            "same_id_resends": self.same_id_resends,
            "sent": self.sent,
        }


def audit_inbound(
    entries: Sequence[dict[str, Any]],
    expected_ids: Sequence[str],
    audit: Audit,
    *,
    fetched: int | None = None,
) -> dict[str, dict[str, Any]]:
    """One non-duplicate log entry per distinct mail; returns message_id -> that entry."""
    audit.mails = len(expected_ids)
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        by_id[entry.get("message_id") or ""].append(entry)
    kept: dict[str, dict[str, Any]] = {}
    for mid in expected_ids:
        real = [e for e in by_id.get(mid, []) if e["outcome"] != "duplicate"]
        if not real:
            audit.lost.append(mid)
        elif len(real) > 1:
            audit.processed_twice.append(mid)
        if real:
            kept[mid] = real[0]
            if real[0]["outcome"] == "quarantined":
                audit.quarantined.append(f"{mid}: {real[0].get('reason')}")
    audit.extra_entries = max(0, len(entries) - (len(expected_ids) if fetched is None else fetched))
    return kept


def audit_tickets(
    tickets: Sequence[dict[str, Any]],
    workload: Workload,
    kept: dict[str, dict[str, Any]],
    audit: Audit,
) -> None:
    requests = workload.requests
    for reply in workload.replies:
        entry = kept.get(reply.message_id)
        if entry is not None and entry["outcome"] != "update_ticket":
            audit.replies_unthreaded.append(f"{reply.message_id}: {entry['outcome']}")
    by_subject = Counter(t["subject"] for t in tickets)
    for request in requests:
        count = by_subject.get(request.subject, 0)
        entry = kept.get(request.message_id)
        if count == 0 or (entry is not None and entry["outcome"] != "new_ticket"):
            audit.tickets_missing.append(request.message_id)
        elif count > 1:
            audit.tickets_doubled.append(request.message_id)


def audit_sent(sent: Sequence[SentMail], requests: Sequence[Request], audit: Audit) -> None:
    audit.sent = len(sent)
    by_mid: dict[tuple[str, str], list[SentMail]] = defaultdict(list)
    for mail in sent:
        by_mid[(mail.recipient, mail.message_id)].append(mail)
    for (rcpt, mid), copies in by_mid.items():
        audit.same_id_resends += len(copies) - 1
        if len({c.data for c in copies}) > 1:
            audit.different_duplicates.append(f"{mid} to {rcpt}")
    acks: dict[tuple[str, str], set[str]] = defaultdict(set)
    for mail in sent:
        if mail.auto_submitted == "auto-replied":
            acks[(mail.in_reply_to, mail.recipient)].add(mail.message_id)
    for request in requests:
        distinct = acks.get((request.message_id, request.requester.lower()), set())
        if not distinct:
            audit.acks_missing.append(request.message_id)
        elif len(distinct) > 1:
            audit.acks_doubled.append(request.message_id)


def full_audit(env: dict[str, str], workload: Workload, sink_messages: Iterable[Any]) -> Audit:
    audit = Audit()
    entries = cli_json(env, "mail", "list", "--limit", "1000000")
    kept = audit_inbound(entries, workload.message_ids, audit)
    tickets = cli_json(env, "tickets", "list")
    audit_tickets(tickets, workload, kept, audit)
    audit_sent(parse_sent(sink_messages), workload.requests, audit)
    return audit


@dataclass
class Scenario:
    """One test's system: processes, the mail it was sent and what it sent back."""

    env: dict[str, str]
    fleet: Fleet
    imap: Any
    sink: Any
    progress: Progress
    workload: Workload = field(default_factory=Workload)

    def sent_messages(self) -> list[Any]:
        received = getattr(self.sink, "messages", None)
        if received is None:  # ScriptedSmtpServer keeps its mail on the handler
            received = list(self.sink.handler.received)
        return list(received)

    def feed(self, count: int, reply_share: float = 0.3) -> None:
        self.imap.append_many(self.workload.next_mails(count, reply_share))

    @property
    def expected(self) -> int:
        return len(self.workload.message_ids)

    def settle(self, timeout: float) -> float | None:
        """Seconds until everything fed is processed and sent; None if it never was."""
        started = time.monotonic()
        if wait_until(lambda: self.progress.settled(self.expected), settle_budget(timeout), 0.2):
            return time.monotonic() - started
        return None

    def why_not_settled(self) -> str:
        p = self.progress
        return (
            f"stored={p.stored()}/{self.expected} waiting={p.waiting()} "
            f"jobs={p.unfinished_jobs()} unsent={p.unsent()}\n{self.fleet.logs()}"
        )

    def audit(self) -> Audit:
        return full_audit(self.env, self.workload, self.sent_messages())


def scenario(
    *,
    roles: Sequence[str],
    database_url: str,
    broker_url: str,
    imap: Any,
    sink: Any,
    log_dir: Path,
    **extra: str,
) -> Scenario:
    """Migrate, then start one process per role (names made unique: worker-1, worker-2 ...).

    Outgoing mail goes to ``sink``, the SMTP server whose messages the audit reads."""
    env = aliasdesk_env(
        database_url=database_url, broker_url=broker_url, imap=imap, smtp_port=sink.port, **extra
    )
    migrate(env)
    seen: Counter[str] = Counter()
    members = []
    for role in roles:
        seen[role] += 1
        members.append(AliasdeskProcess(role, env, log_dir, f"{role}-{seen[role]}"))
    fleet = Fleet(members)
    fleet.start()
    return Scenario(env, fleet, imap, sink, Progress(database_url))
