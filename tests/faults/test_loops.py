"""Mail loops stay bounded: aliasdesk against machines that answer every mail.

Wiring: aliasdesk's outgoing mail reaches an SMTP sink; a responder thread reads each mail
addressed to it there and APPENDs its answer to the Dovecot mailbox aliasdesk reads, so
every answer really goes round the loop. The gateway runs for a bounded time; the bounds:

- responder with RFC 3834 headers (``Auto-Submitted: auto-replied``): its answer is
  machine mail, logged ``ignored``; after the first acknowledgement it gets 0 more mails;
- responder with no headers at all, from a human-looking address, answering
  "Re: [HR-1] ...": each answer is matched to HR-1 by its tag and becomes an update of that
  ticket, never a new ticket; aliasdesk sends it no more than the hourly cap of 10
  automatic answers, and the exchange stops;
- two aliasdesk instances, each one's alias a requester at the other, each one's SMTP
  delivering into the other's mailbox: bounded, also when the relay between them strips
  every auto-reply header and aliasdesk's loop marker.
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aliasdesk.services.notifications import AUTO_ANSWERS_PER_HOUR
from gateway.local_servers import SmtpSink
from tests.crash.procs import FULL, cli_json, scenario
from tests.reliability_report import record
from tests.support.dovecot import DovecotServer
from tests.support.harness import build_mail

pytestmark = pytest.mark.dovecot

RUN_FOR = 40.0 if FULL else 5.0
QUIET_FOR = 3.0
QUIET_BY = 60.0  # after RUN_FOR: a loop still exchanging mail by then is not bounded
STRIPPED = ("auto-submitted", "x-auto-response-suppress", "precedence", "x-aliasdesk")


class Bridge(threading.Thread):
    """Hands mail seen at a sink to ``answer`` (which may APPEND somewhere) exactly once."""

    def __init__(
        self, sink: SmtpSink, wants: Callable[[Any], bool], answer: Callable[[Any], None]
    ) -> None:
        super().__init__(daemon=True)
        self.sink, self.wants, self.answer = sink, wants, answer
        self.seen = 0
        self.handled = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            messages = self.sink.messages
            for item in messages[self.seen :]:
                if self.wants(item):
                    self.answer(item)
                    self.handled += 1
            self.seen = len(messages)
            self.stop_event.wait(0.1)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=10)


def _parsed(item: Any) -> email.message.Message:
    return email.message_from_bytes(item.data, policy=email.policy.compat32)


def _run_bounded(sinks: list[SmtpSink]) -> tuple[int, bool]:
    """Let the loop run at least RUN_FOR seconds, then until no mail has moved for
    QUIET_FOR, for at most QUIET_BY; returns (mails seen, whether it fell quiet).

    The bound on the mail exchanged is the property; how soon the exchange ends depends
    on how fast processes start and poll on a busy machine, so the quiet is waited for."""
    time.sleep(RUN_FOR)
    deadline = time.monotonic() + QUIET_BY
    seen = sum(len(s.messages) for s in sinks)
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now_seen = sum(len(s.messages) for s in sinks)
        if now_seen != seen:
            seen, still_since = now_seen, time.monotonic()
        elif time.monotonic() - still_since >= QUIET_FOR:
            return seen, True
    return seen, False


@pytest.mark.parametrize("variant", ["rfc3834-headers", "no-headers"])
def test_auto_responder_loop_is_bounded(
    variant: str,
    dovecot_server: DovecotServer,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    log_dir: Path,
) -> None:
    responder = "jane.doe@partner.test"

    def answer(item: Any) -> None:
        sent = _parsed(item)
        subject = str(sent.get("Subject", ""))
        headers = {}
        if variant == "rfc3834-headers":
            headers = {"Auto-Submitted": "auto-replied", "In-Reply-To": str(sent["Message-ID"])}
        dovecot_server.append(
            build_mail(
                f"Jane Doe <{responder}>",
                str(sent.get("From", "")),
                f"Re: {subject}",
                "Thanks, received. I will be out until Monday.",
                headers=headers,
            )
        )

    bridge = Bridge(smtp_sink, lambda item: responder in item.rcpt_tos, answer)
    bridge.start()
    system = scenario(
        roles=["run"],
        database_url=f"sqlite:///{tmp_path}/a.db",
        broker_url="embedded",
        imap=dovecot_server,
        sink=smtp_sink,
        log_dir=log_dir,
    )
    try:
        dovecot_server.append(
            build_mail(responder, "hr@example.com", "Access badge", "My badge stopped working.")
        )
        total, quiet = _run_bounded([smtp_sink])
    finally:
        bridge.stop()
        system.fleet.stop()
        system.progress.close()
    to_responder = [m for m in smtp_sink.messages if responder in m.rcpt_tos]
    tickets = cli_json(system.env, "tickets", "list")
    entries = cli_json(system.env, "mail", "list", "--limit", "100000")
    outcomes = [e["outcome"] for e in entries if e["from"] == responder]
    record(
        f"loop: auto-responder {variant}",
        "loop",
        notes=f"to_responder={len(to_responder)} answers={bridge.handled} "
        f"tickets={len(tickets)} mails_out={total}",
    )
    assert quiet, "the exchange was still going after the bounded run"
    assert len(tickets) == 1, [t["ref"] for t in tickets]
    assert outcomes.count("new_ticket") == 1
    if variant == "rfc3834-headers":
        assert len(to_responder) == 1  # the acknowledgement, then nothing more
        assert outcomes.count("ignored") == bridge.handled >= 1
    else:
        assert 1 <= len(to_responder) <= AUTO_ANSWERS_PER_HOUR
        assert outcomes.count("update_ticket") == bridge.handled >= 1
        # Grows with the responder's answers (each stored, each shown to the owner), which
        # are themselves bounded: request + acknowledgement + assignment, then per answer.
        assert tickets[0]["message_count"] <= 3 * (1 + bridge.handled)


ROUTING = """\
organisation:
  name: {name}
  domains: [{domain}]
departments:
  {key}:
    name: {name} desk
    aliases: [{alias}]
    members: [{member}]
    assignment: round_robin
default_department: null
"""


@pytest.mark.parametrize("relay", ["keeps-headers", "strips-headers"])
def test_two_instances_answering_each_other(relay: str, tmp_path: Path, log_dir: Path) -> None:
    sides: dict[str, dict[str, Any]] = {
        "A": {
            "name": "Alpha",
            "domain": "alpha.test",
            "key": "HR",
            "alias": "hr@alpha.test",
            "member": "alice@alpha.test",
        },
        "B": {
            "name": "Beta",
            "domain": "beta.test",
            "key": "DESK",
            "alias": "desk@beta.test",
            "member": "bob@beta.test",
        },
    }
    servers: list[Any] = []
    try:
        for label, side in sides.items():
            routing = tmp_path / f"routing-{label}.yaml"
            routing.write_text(ROUTING.format(**side))
            imap, sink = DovecotServer(), SmtpSink()
            imap.start()
            sink.start()
            servers += [imap, sink]
            side.update(routing=routing, imap=imap, sink=sink)
        bridges = []
        for here, there in (("A", "B"), ("B", "A")):
            target = sides[there]

            def forward(item: Any, target: dict[str, Any] = target) -> None:
                raw = item.data
                if relay == "strips-headers":
                    message = _parsed(item)
                    for name in {k for k in message if k.lower().startswith(STRIPPED)}:
                        del message[name]
                    raw = message.as_bytes()
                target["imap"].append(raw)

            bridges.append(
                Bridge(
                    sides[here]["sink"],
                    lambda item, t=target: any(t["domain"] in r for r in item.rcpt_tos),
                    forward,
                )
            )
        systems = {}
        for label, side in sides.items():
            systems[label] = scenario(
                roles=["run"],
                database_url=f"sqlite:///{tmp_path}/{label}.db",
                broker_url="embedded",
                imap=side["imap"],
                sink=side["sink"],
                log_dir=log_dir,
                routing=side["routing"],
                ALIASDESK_INSTANCE_ID=f"aliasdesk-{label.lower()}",
            )
        for bridge in bridges:
            bridge.start()
        # Someone at Beta writes to Alpha's HR from Beta's desk address, and vice versa.
        sides["A"]["imap"].append(build_mail("desk@beta.test", "hr@alpha.test", "Visitor list"))
        sides["B"]["imap"].append(build_mail("hr@alpha.test", "desk@beta.test", "Parcel"))
        total, quiet = _run_bounded([sides["A"]["sink"], sides["B"]["sink"]])
        for bridge in bridges:
            bridge.stop()
        counts = {}
        for label, system in systems.items():
            system.fleet.stop()
            system.progress.close()
            counts[label] = len(cli_json(system.env, "tickets", "list"))
        forwarded = sum(b.handled for b in bridges)
    finally:
        for server in servers:
            server.cleanup() if isinstance(server, DovecotServer) else server.stop()
    record(
        f"loop: two instances, relay {relay}",
        "loop",
        notes=f"forwarded={forwarded} tickets_A={counts['A']} tickets_B={counts['B']} "
        f"mails_out={total}",
    )
    assert quiet, f"still exchanging mail after {RUN_FOR + QUIET_BY}s ({forwarded} forwarded)"
    # Each side answers the other's alias at most the hourly cap of automatic answers.
    assert forwarded <= 2 * (AUTO_ANSWERS_PER_HOUR + 1)
    if relay == "keeps-headers":
        assert forwarded == 2  # one acknowledgement each way, both ignored on arrival
        assert counts == {"A": 1, "B": 1}
    else:
        assert counts["A"] <= 2 and counts["B"] <= 2
