"""Every corpus message through the whole intake (store raw, then every pipeline stage).

test_corpus_parse.py shows the parser survives the corpus; this module shows the gateway
does: each message ends as exactly one inbound entry with one of the five outcomes, its
raw bytes kept, machine mail ignored and never answered, and a second fetch of the same
bytes a logged duplicate that changes nothing and sends nothing.

Each message is fed to two runtimes (SQLite files, one real SMTP server each), built once
for the module because 1,106 fresh databases would take minutes:

* ``plain`` uses config/routing.yaml: most corpus mail is addressed to nobody we know,
  so it is quarantined ("no department") and the routing and quarantine paths run;
* ``catch_all`` is the same file with ``default_department: HR``, so human mail opens
  tickets and the acknowledgement path (assignment, rendering, SMTP) runs for real on
  the corpus' subjects and names.

The module's last tests drain the jobs of both and look at what was sent. A small
selection of the trickiest messages also runs on PostgreSQL (``database_url``).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import mailbox
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import func, select

from aliasdesk.db.models import Delivery, InboundMail, Job, Ticket
from aliasdesk.inbound.context import OUTCOMES
from aliasdesk.mail.addresses import is_noreply
from aliasdesk.runtime import Runtime
from tests.support.corpus import CORPUS, MBOX, MESSAGE_GLOBS, require_corpus
from tests.support.harness import ROUTING, drain_jobs, feed, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

require_corpus()
FILES = sorted(
    {p.relative_to(CORPUS).as_posix() for pattern in MESSAGE_GLOBS for p in CORPUS.glob(pattern)}
)
MACHINE = frozenset(
    line.split("\t", 1)[0]
    for line in (CORPUS / "machine-generated.tsv").read_text().splitlines()[1:]
    if line.strip()
)
# One message must not hold the gateway up: the biggest file (1.5 MB) takes well under a
# second; this bound catches a regular expression gone quadratic, not a slow laptop.
SECONDS_PER_MESSAGE = 10.0


def _mbox_messages() -> dict[str, bytes]:
    box = mailbox.mbox(str(CORPUS / MBOX), create=False)
    try:
        return {f"{MBOX}#{i}": box.get_bytes(key) for i, key in enumerate(box.iterkeys())}
    finally:
        box.close()


MBOX_MESSAGES = _mbox_messages()
MESSAGES = FILES + sorted(MBOX_MESSAGES)


def raw_of(name: str) -> bytes:
    return MBOX_MESSAGES[name] if name in MBOX_MESSAGES else (CORPUS / name).read_bytes()


def catch_all_routing(folder: Path) -> Path:
    """config/routing.yaml with ``default_department: HR``: mail to nobody opens a ticket."""
    text, count = re.subn(
        r"^default_department: null\b", "default_department: HR", ROUTING.read_text(), flags=re.M
    )
    assert count == 1, "config/routing.yaml no longer has 'default_department: null'"
    path = folder / "routing.yaml"
    path.write_text(text)
    return path


@dataclass
class World:
    """One runtime with its SMTP server and what the module fed it so far."""

    name: str
    runtime: Runtime
    smtp: ScriptedSmtpServer
    source: dict[int, str] = field(default_factory=dict)  # inbound id -> corpus name
    outcome: dict[str, str] = field(default_factory=dict)  # corpus name -> first outcome
    fed: int = 0

    def counts(self) -> tuple[int, int, int, int]:
        with self.runtime.db.reader() as session:
            return tuple(  # type: ignore[return-value]
                int(session.scalar(select(func.count()).select_from(model)) or 0)
                for model in (InboundMail, Ticket, Job, Delivery)
            )


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, World]]:
    folder = tmp_path_factory.mktemp("corpus-pipeline")
    made: dict[str, World] = {}
    try:
        for name, routing in (("plain", ROUTING), ("catch_all", catch_all_routing(folder))):
            smtp = ScriptedSmtpServer().start()
            # A thousand senders answered at once is this test's point, not the outside-mail
            # breaker's (tests/pipeline/test_outside_mail_breaker.py): no limit here.
            runtime = runtime_for(
                f"sqlite:///{folder}/{name}.db",
                smtp.port,
                routing_file=routing,
                outside_mail_per_minute=0,
            )
            made[name] = World(name, runtime, smtp)
        yield made
    finally:
        for world in made.values():
            world.runtime.close()
            world.smtp.stop()


def _check_one(world: World, name: str, raw: bytes) -> None:
    inbound, tickets, jobs, deliveries = world.counts()
    started = time.monotonic()
    [result] = feed(world.runtime, raw)
    elapsed = time.monotonic() - started
    world.fed += 1
    world.source[result.inbound_id] = name
    world.outcome[name] = result.outcome
    where = f"{world.name}: {name}: {result}"
    assert elapsed < SECONDS_PER_MESSAGE, f"{where} took {elapsed:.1f} s"
    assert result.outcome in OUTCOMES, where
    assert result.reason.strip(), where
    assert result.reason != "internal-error", where
    with world.runtime.db.reader() as session:
        row = session.get(InboundMail, result.inbound_id)
        assert row is not None
        assert row.raw == raw and row.size == len(raw), where
        assert row.content_hash == hashlib.sha256(raw).hexdigest(), where
        assert row.error is None, f"{where}\n{row.error}"
        original = session.get(InboundMail, row.duplicate_of) if row.duplicate_of else None
    after = world.counts()
    assert after[0] == inbound + 1, f"{where}: not exactly one inbound entry"
    if result.outcome == "new_ticket":
        assert result.ticket_refs and after[1] == tickets + len(result.ticket_refs), where
    else:
        assert after[1] == tickets, f"{where}: a ticket appeared"
    if result.outcome == "duplicate":
        # Upstream suites share some messages (same Message-ID) under two names, e.g.
        # sisimai's bsd/ and mac-cr-newlines/ copies: only such a sibling may come first.
        assert original is not None and original.id in world.source, where
        assert original.outcome != "duplicate", where
    settled = original.outcome if original is not None else result.outcome
    if name in MACHINE:
        assert settled == "ignored", f"{where}: machine mail must be ignored"
        assert after[2:] == (jobs, deliveries), f"{where}: machine mail caused mail"
    if settled in {"ignored", "quarantined", "duplicate"}:
        assert after[2:] == (jobs, deliveries), f"{where}: {settled} mail caused mail"
    _check_refetch(world, name, raw, result.inbound_id)


def _check_refetch(world: World, name: str, raw: bytes, first_id: int) -> None:
    """The same bytes fetched again (a new UID): one more entry, ``duplicate``, nothing else."""
    before = world.counts()
    [again] = feed(world.runtime, raw)
    world.fed += 1
    world.source[again.inbound_id] = name
    where = f"{world.name}: {name} fed again: {again}"
    assert again.outcome == "duplicate" and again.ticket_refs == (), where
    after = world.counts()
    assert after == (before[0] + 1, *before[1:]), where
    with world.runtime.db.reader() as session:
        row = session.get(InboundMail, again.inbound_id)
        assert row is not None and row.raw == raw and row.duplicate_of is not None, where
        assert row.duplicate_of in {first_id, *world.source}, where


@pytest.mark.parametrize("name", MESSAGES)
def test_message_through_the_whole_pipeline(name: str, worlds: dict[str, World]) -> None:
    raw = raw_of(name)
    for world in worlds.values():
        _check_one(world, name, raw)


def _sent(world: World) -> list[tuple[list[str], EmailMessage]]:
    found = []
    for item in world.smtp.handler.received:
        message = email.message_from_bytes(item.data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        found.append((item.rcpt_tos, message))
    return found


def _senders(world: World, names: frozenset[str] | set[str], outcomes: set[str]) -> set[str]:
    with world.runtime.db.reader() as session:
        rows = session.execute(
            select(InboundMail.id, InboundMail.from_address, InboundMail.outcome)
        ).all()
    return {
        (address or "").lower()
        for inbound_id, address, outcome in rows
        if world.source.get(inbound_id) in names and outcome in outcomes and address
    }


def _outcomes(world: World) -> Counter[str]:
    with world.runtime.db.reader() as session:
        rows = session.execute(
            select(InboundMail.outcome, func.count()).group_by(InboundMail.outcome)
        ).all()
    return Counter({str(outcome): int(count) for outcome, count in rows})


def _machine_senders_never_answered(world: World) -> None:
    """No mail to a machine sender, unless the same address also wrote a human request."""
    machine = _senders(world, MACHINE, {"ignored"})
    human = _senders(world, set(world.outcome) - MACHINE, {"new_ticket", "update_ticket"})
    for rcpt, message in _sent(world):
        wrongly = (set(rcpt) & machine) - human
        assert not wrongly, f"{world.name}: mail to machine sender(s) {wrongly}: {message}"


def test_plain_routing_quarantines_mail_to_nobody(worlds: dict[str, World]) -> None:
    world = worlds["plain"]
    if len(world.outcome) < len(MESSAGES):
        pytest.skip("needs every corpus message fed first (run the whole module)")
    drain_jobs(world.runtime, max_wait=2)
    counted = _outcomes(world)
    assert sum(counted.values()) == world.fed == 2 * len(MESSAGES)
    assert set(counted) <= set(OUTCOMES)
    # Every message is fed twice: at least half the entries are repeats.
    assert counted["duplicate"] >= len(MESSAGES)
    first_ignored = sum(1 for name in MACHINE if world.outcome.get(name) == "ignored")
    assert counted["ignored"] == sum(1 for o in world.outcome.values() if o == "ignored")
    assert first_ignored > 500
    assert counted["quarantined"] > 100  # mail to addresses the routing file does not know
    _machine_senders_never_answered(world)


def test_catch_all_routing_opens_tickets_and_acknowledges(worlds: dict[str, World]) -> None:
    world = worlds["catch_all"]
    if len(world.outcome) < len(MESSAGES):
        pytest.skip("needs every corpus message fed first (run the whole module)")
    # Jobs that can run finish in the first pass; the wait only bounds a stuck one.
    drain_jobs(world.runtime, max_wait=2)
    counted = _outcomes(world)
    assert sum(counted.values()) == world.fed
    assert counted["new_ticket"] > 200, counted
    sent = _sent(world)
    acks: Counter[str] = Counter()
    for rcpt, message in sent:
        assert len(rcpt) == 1, f"one recipient per mail, got {rcpt}"
        assert message["Message-ID"] and message["Auto-Submitted"] in {
            "auto-replied",
            "auto-generated",
        }
        to = [a.addr_spec.lower() for a in message["To"].addresses]
        assert to == [rcpt[0].lower()], f"To {to} differs from the envelope {rcpt}"
        assert message["Cc"] is None and message["Bcc"] is None
        assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])
        if message["Auto-Submitted"] == "auto-replied":
            acks[rcpt[0].lower()] += 1
            assert re.match(r"^\[HR-\d+\]", str(message["Subject"]).strip()), message["Subject"]
    assert acks, "no acknowledgement was sent at all"
    assert max(acks.values()) <= 10, acks.most_common(3)
    assert not [a for a in acks if is_noreply(a)], "a no-reply sender got an answer"
    _machine_senders_never_answered(world)


def test_every_acknowledgement_is_sent_or_failed(worlds: dict[str, World]) -> None:
    """No job may stay unfinished: a requester address that cannot be written into a
    mail (jdöe@mächine.example, claudia.shu@yahoo.com.) must fail that one
    delivery for good, not be retried forever."""
    world = worlds["catch_all"]
    if len(world.outcome) < len(MESSAGES):
        pytest.skip("needs every corpus message fed first (run the whole module)")
    drain_jobs(world.runtime, max_wait=3)
    with world.runtime.db.reader() as session:
        stuck_jobs = session.scalars(select(Job).where(Job.state != "done")).all()
        states = Counter(session.scalars(select(Delivery.state)).all())
        pending = session.scalars(
            select(Delivery.recipient).where(Delivery.state.not_in(["sent", "failed"]))
        ).all()
    assert not stuck_jobs, f"{len(stuck_jobs)} jobs never finish; deliveries to {pending}"
    assert set(states) <= {"sent", "failed"}, states


# --- PostgreSQL: the trickiest messages, on both databases -----------------------------


def _manifest_rows() -> Iterator[tuple[str, dict[str, str]]]:
    for manifest in sorted(CORPUS.glob("*/manifest.tsv")):
        lines = manifest.read_text(encoding="utf-8").splitlines()
        header = lines[0].split("\t")
        for line in lines[1:]:
            values = dict(zip(header, line.split("\t"), strict=False))
            yield f"{manifest.parent.name}/{values['file']}", values


def _tricky(limit: int = 100) -> list[str]:
    """Messages the manifests flag as hard: errors, defects, unknown charsets, 8-bit
    headers, no Message-ID, size; plus the README's named traps."""
    named = [
        "zammad/mail/mail082.box",
        "zammad/mail/mail102.box",
        "zammad/mail/mail060.box",
        "ruby-mail/emails/plain_emails/raw_email10.eml",
        "enmime/testdata/mail/qp-utf8-header-recursed.raw",
        "enmime/testdata/low-quality/unk-charset-part.raw",
        "enmime/testdata/mail/html-mime-bad-charset-inline.raw",
        "enmime/testdata/mail/html-mime-bad-unknown-charset-inline.raw",
    ]
    scored = []
    for name, row in _manifest_rows():
        if name not in FILES or name in named:
            continue
        score = sum(
            bool(row.get(key, "").strip())
            for key in ("body_error", "header_errors", "defects", "8bit_header")
        ) + ("message-id" in row.get("missing", "").lower())
        scored.append((-score, -int(row.get("bytes") or 0), name))
    chosen = [n for n in named if n in FILES]
    chosen += [name for _, _, name in sorted(scored)[: limit - len(chosen)]]
    return chosen


TRICKY = _tricky()


def test_tricky_messages_on_each_database(database_url: str) -> None:
    assert len(TRICKY) == 100
    with ScriptedSmtpServer() as smtp:
        runtime = runtime_for(database_url, smtp.port)
        world = World(database_url.split(":", 1)[0], runtime, smtp)
        try:
            for name in TRICKY:
                _check_one(world, name, raw_of(name))
            drain_jobs(runtime, max_wait=5)
            assert sum(_outcomes(world).values()) == 2 * len(TRICKY)
            _machine_senders_never_answered(world)
        finally:
            runtime.close()
