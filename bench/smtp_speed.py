"""Mails per second handed to an SMTP server: one ``send`` at a time against ``send_many``.

Most of an SMTP transaction is waiting for the server's replies (MAIL, RCPT, DATA and
the final answer), so one connection used one mail at a time leaves both ends idle;
``send_many`` keeps a few transactions going at once. The server is an aiosmtpd sink in
a child process (its own interpreter, so it does not share the client's GIL) that
discards what it receives. ``--delay-ms`` makes it wait before answering DATA, as a
relay that writes the mail to disk before it replies would.

The mails are composed beforehand; connections are opened before timing starts. The
contenders alternate round by round and medians are printed, so a busy machine skews
both alike.

A third contender sends the same batches through aiosmtplib's ``SMTP.data``, which
rewrites every line end and stuffs dots with two regular-expression passes over the whole
mail: what every send did before ``aliasdesk.notify.smtp_data``. Like the bench's
mailbox, one mail in ten (``--files``) carries a 100 KB file, as an owner's notice
carrying a request's file does. The CPU this process spent per mail (its event loop's
thread included) is printed beside the rate.

Run: ``.venv/bin/python -m bench.smtp_speed [--mails N] [--rounds N] [--delay-ms MS]
[--files PERCENT]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

from aiosmtpd.smtp import SMTP, Envelope, Session

from aliasdesk.mail.compose import compose, make_message_id
from aliasdesk.notify import mailer as mailer_module
from aliasdesk.notify.mailer import DeliveryError, SmtpMailer, SyncSmtpMailer

SENDER = "hr@example.com"
BATCH = 100


class Sink:
    """aiosmtpd handler: accept every mail and keep nothing."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 2.0.0 Queued"


def serve(delay_ms: float) -> None:
    """The child process: print the port, then serve until stdin closes."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        handler = Sink(delay_ms / 1000)
        server = await loop.create_server(lambda: SMTP(handler), "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await loop.run_in_executor(None, sys.stdin.read)  # the parent closes it when done

    asyncio.run(main())


def small_mails(count: int, files_percent: float = 0.0) -> list[bytes]:
    """Acknowledgement-sized mails; ``files_percent`` of them carry a 100 KB file."""
    every = round(100 / files_percent) if files_percent > 0 else 0
    attached = [("scan.pdf", "application/pdf", bytes(range(256)) * 400)]
    return [
        compose(
            from_address=SENDER,
            from_name="Human Resources",
            to=[f"user{n}@example.com"],
            subject=f"[HR-{n}] Your request was received",
            text=f"Hello,\n\nyour request HR-{n} was received.\n",
            html=None,
            message_id=make_message_id(f"bench-{n}", "example.com"),
            in_reply_to=None,
            references=[],
            auto_submitted="auto-replied",
            attachments=attached if every and n % every == 0 else (),
        )
        for n in range(count)
    ]


async def _through_smtp_data(client: Any, message: bytes) -> Any:
    return await client.data(message)


def through_smtp_data(mailer: SyncSmtpMailer, mails: list[bytes]) -> None:
    """``in_batches``, every DATA through aiosmtplib's own normalising (as before)."""
    with mock.patch.object(mailer_module, "send_data", _through_smtp_data):
        in_batches(mailer, mails)


def one_by_one(mailer: SyncSmtpMailer, mails: list[bytes]) -> None:
    for n, data in enumerate(mails):
        mailer.send(SENDER, [f"user{n}@example.com"], data)


def in_batches(mailer: SyncSmtpMailer, mails: list[bytes]) -> None:
    for start in range(0, len(mails), BATCH):
        items = [
            (SENDER, [f"user{n}@example.com"], mails[n])
            for n in range(start, min(start + BATCH, len(mails)))
        ]
        failed = [r for r in mailer.send_many(items) if isinstance(r, DeliveryError)]
        if failed:
            raise SystemExit(f"send_many failed: {failed[0]}")


Contenders = dict[str, tuple[SyncSmtpMailer, Callable[[SyncSmtpMailer, list[bytes]], None]]]


def _contenders(port: int, connections: int) -> Contenders:
    def pooled() -> SyncSmtpMailer:
        return SyncSmtpMailer(
            SmtpMailer("127.0.0.1", port, security="none"), connections=connections
        )

    return {
        "send, one at a time": (
            SyncSmtpMailer(SmtpMailer("127.0.0.1", port, security="none")),
            one_by_one,
        ),
        f"send_many, batches of {BATCH}, {connections} connections": (pooled(), in_batches),
        "the same through SMTP.data (before)": (pooled(), through_smtp_data),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--files", type=float, default=10.0, help="percent of mails with a file")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.delay_ms)
        return
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.smtp_speed", "--serve", "--delay-ms", str(args.delay_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        mails = small_mails(args.mails, args.files)
        contenders = _contenders(port, args.connections)
        rates: dict[str, list[float]] = {name: [] for name in contenders}
        cpu: dict[str, list[float]] = {name: [] for name in contenders}
        for mailer, run in contenders.values():
            run(mailer, mails[: args.connections * 2])  # warm-up: open the connections
        for _ in range(args.rounds):
            for name, (mailer, run) in contenders.items():
                started, cpu_before = time.perf_counter(), time.process_time()
                run(mailer, mails)
                rates[name].append(len(mails) / (time.perf_counter() - started))
                cpu[name].append((time.process_time() - cpu_before) * 1000 / len(mails))
        delay = f", server waits {args.delay_ms:g} ms per DATA" if args.delay_ms else ""
        files = f", {args.files:g} % with a 100 KB file"
        print(f"{args.mails} mails{files}, median of {args.rounds} rounds{delay}")
        for name, values in rates.items():
            print(
                f"  {name:<46} {statistics.median(values):8.0f} mails/s"
                f"  {statistics.median(cpu[name]):6.3f} ms of CPU a mail"
            )
        for mailer, _ in contenders.values():
            mailer.close()
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(timeout=10)


if __name__ == "__main__":
    main()
