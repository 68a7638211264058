"""The floor to compare against: the least a gateway must do per mail, with nothing else.

imapclient fetches batches of BODY.PEEK[], the stdlib parser (policy.default, as a careful
implementation would use) reads each mail, one SQLite row is inserted per mail (one commit
per batch) and one acknowledgement is sent over a single reused aiosmtplib connection. No
routing, no dedupe, no threading, no outbox: if aliasdesk is not well above this, its
architecture, not Python, is the cost.

Run as its own process by bench.run (so its start-up and memory are its own):
    python -m bench.bare_loop --host H --port P --user U --password W --folder F --smtp-port S
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import json
import sqlite3
import tempfile
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
from imapclient import IMAPClient

BATCH = 100


def _acknowledgement(mail: EmailMessage, number: int) -> EmailMessage | None:
    """An acknowledgement for a request; machine mail (RFC 3834) gets none."""
    if (
        mail.get("Auto-Submitted", "no").lower() != "no"
        or mail.get_content_type() == "multipart/report"
    ):
        return None
    sender = mail["From"].addresses[0].addr_spec if mail["From"] else None
    if not sender:
        return None
    ack = EmailMessage()
    ack["From"] = "helpdesk@example.com"
    ack["To"] = sender
    ack["Subject"] = f"[REQ-{number}] {mail['Subject']}"
    ack["In-Reply-To"] = mail["Message-ID"] or ""
    ack["Auto-Submitted"] = "auto-replied"
    ack.set_content(f"Your request is ticket REQ-{number}.\n")
    return ack


async def run(args: argparse.Namespace) -> dict[str, float]:
    started = time.monotonic()
    db = sqlite3.connect(Path(tempfile.mkdtemp()) / "bare.db")
    db.execute(
        "CREATE TABLE mail (id INTEGER PRIMARY KEY, message_id TEXT, sender TEXT,"
        " subject TEXT, raw BLOB)"
    )
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=args.smtp_port, start_tls=False)
    await smtp.connect()
    imap = IMAPClient(args.host, args.port, ssl=False)
    imap.login(args.user, args.password)
    imap.select_folder(args.folder)
    uids = imap.search("ALL")
    handled = sent = 0
    for start in range(0, len(uids), BATCH):
        fetched = imap.fetch(uids[start : start + BATCH], [b"BODY.PEEK[]"])
        for uid in uids[start : start + BATCH]:
            raw = fetched[uid][b"BODY[]"]
            mail = email.message_from_bytes(raw, policy=policy.default)
            cursor = db.execute(
                "INSERT INTO mail (message_id, sender, subject, raw) VALUES (?, ?, ?, ?)",
                (str(mail["Message-ID"]), str(mail["From"]), str(mail["Subject"]), raw),
            )
            ack = _acknowledgement(mail, int(cursor.lastrowid or 0))
            if ack is not None:
                await smtp.send_message(ack)
                sent += 1
            handled += 1
        db.commit()
    seconds = time.monotonic() - started
    await smtp.quit()
    imap.logout()
    return {"mails": handled, "acks": sent, "seconds": seconds, "mails_per_s": handled / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("host", "user", "password", "folder"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
