"""The floor to compare against: the least a gateway must do per mail, with nothing else.

imapclient fetches batches of BODY.PEEK[]; the stdlib parser reads each mail; one SQLite
row is inserted per mail (one commit per batch); and the mails aliasdesk itself sends for
a request go out over one reused aiosmtplib connection: an acknowledgement to the requester
and a notice to an owner (round robin over the department's members in the routing file)
carrying the request's text and files. A reply (a ``[KEY-N]`` tag or an In-Reply-To) only
goes to an owner; machine mail (RFC 3834 Auto-Submitted, delivery reports) gets nothing.
No dedupe, no threading, no outbox, no retries: if aliasdesk is not well above this, its
architecture, not Python, is the cost.

Two variants, both measured by ``bench.run``:

* default ("honest floor"): the parser is ``compat32``, the fastest of the stdlib's
  parsers that reads a mail's MIME structure (``python -m bench.bare_loop --parsers``
  times them), and the mails are written as bytes;
* ``--legacy``: the loop the bench used before, kept for continuity: ``policy.default``
  and one ``EmailMessage`` acknowledgement per request, no owner notice.

Run as its own process by bench.run (so its start-up and memory are its own):
    python -m bench.bare_loop --host H --port P --user U --password W --folder F --smtp-port S
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import json
import re
import shutil
import sqlite3
import tempfile
import time
from base64 import encodebytes
from binascii import b2a_base64
from collections.abc import Callable
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Any

import aiosmtplib
from imapclient import IMAPClient
from ruamel.yaml import YAML

BATCH = 100
ROUTING = Path(__file__).resolve().parents[1] / "config" / "routing.yaml"
_TAG = re.compile(r"\[[A-Z][A-Z0-9]{0,9}-\d{1,9}\]")


def _legacy_ack(mail: EmailMessage, number: int) -> EmailMessage | None:
    """The old loop's acknowledgement; machine mail (RFC 3834) gets none."""
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


class Owners:
    """Alias -> (department key, members), and each department's round-robin turn."""

    def __init__(self, routing: Path) -> None:
        data = YAML(typ="safe").load(routing.read_text())
        self.by_alias: dict[str, tuple[str, list[str]]] = {}
        for key, dept in data["departments"].items():
            members = [m["address"] if isinstance(m, dict) else m for m in dept["members"]]
            for alias in dept["aliases"]:
                self.by_alias[alias.lower()] = (key, members)
        self.turns: dict[str, int] = {}

    def departments(self, mail: Message) -> list[tuple[str, str, str]]:
        """(key, alias, owner) for each department the mail was sent to."""
        found: dict[str, tuple[str, str, str]] = {}
        pairs = getaddresses(mail.get_all("To", []) + mail.get_all("Cc", []))
        for _, address in pairs:
            hit = self.by_alias.get(address.lower())
            if hit is None or hit[0] in found:
                continue
            key, members = hit
            turn = self.turns.get(key, 0)
            self.turns[key] = turn + 1
            found[key] = (key, address.lower(), members[turn % len(members)])
        return list(found.values())


def _subject(mail: Message) -> str:
    raw = mail.get("Subject", "")
    try:
        return str(make_header(decode_header(raw))).replace("\n", " ").replace("\r", "")
    except Exception:  # an undecodable subject is kept as it came
        return str(raw)


def _text_and_files(mail: Message) -> tuple[str, list[tuple[str, str, bytes]]]:
    """The first text part, and every attached file with its decoded bytes."""
    text = ""
    files: list[tuple[str, str, bytes]] = []
    for part in mail.walk():
        if part.is_multipart():
            continue
        name = part.get_filename()
        if name:
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                files.append((name, part.get_content_type(), payload))
        elif not text and part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                text = payload.decode(part.get_content_charset() or "utf-8", "replace")
    return text, files


def _b64(data: bytes) -> str:
    """Base64 in lines of 76 (RFC 2045 §6.8)."""
    return encodebytes(data).decode("ascii")


def _mail(sender: str, to: str, subject: str, head: list[str], text: str, files: Any) -> bytes:
    """A text mail, multipart/mixed with base64 files when there are any, as CRLF bytes."""
    words = f"=?utf-8?b?{b2a_base64(subject.encode()[:400], newline=False).decode()}?="
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {words}", *head, "MIME-Version: 1.0"]
    body = _b64(text.encode("utf-8"))
    if not files:
        lines += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64"]
        return ("\n".join(lines) + "\n\n" + body).replace("\n", "\r\n").encode()
    boundary = "=-bare-" + str(len(text))
    parts = [
        f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n"
        f"Content-Transfer-Encoding: base64\n\n{body}"
    ]
    for name, content_type, data in files:
        parts.append(
            f"--{boundary}\nContent-Type: {content_type}\nContent-Transfer-Encoding: base64\n"
            f'Content-Disposition: attachment; filename="{name}"\n\n{_b64(data)}'
        )
    lines.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
    mime = "\n".join(parts) + f"--{boundary}--\n"
    return ("\n".join(lines) + "\n\n" + mime).replace("\n", "\r\n").encode()


def _is_machine(mail: Message) -> bool:
    return (mail.get("Auto-Submitted") or "no").strip().lower() != "no" or (
        mail.get_content_type() == "multipart/report"
    )


def honest_mails(mail: Message, number: int, owners: Owners) -> list[tuple[str, str, bytes]]:
    """(from, to, bytes) of what aliasdesk sends for this mail: per department, the
    acknowledgement and the owner's notice with the request's text and files."""
    if _is_machine(mail):
        return []
    sender = parseaddr(mail.get("From", ""))[1]
    if not sender:
        return []
    subject, message_id = _subject(mail), mail.get("Message-ID", "")
    reply = bool(_TAG.search(subject) or mail.get("In-Reply-To"))
    text, files = _text_and_files(mail)
    out = []
    for key, alias, owner in owners.departments(mail):
        ref = f"{key}-{number}"
        thread = [f"In-Reply-To: {message_id}", f"References: {message_id}"]
        if not reply:
            ack = f"Your request is ticket {ref}. We will answer soon.\n\n{text[:2000]}"
            head = [*thread, "Auto-Submitted: auto-replied"]
            out.append((alias, sender, _mail(alias, sender, f"[{ref}] {subject}", head, ack, [])))
        notice = f"{sender} wrote:\n\n{text}"
        head = ["Auto-Submitted: auto-generated", f"Reply-To: {alias}"]
        out.append((alias, owner, _mail(alias, owner, f"[{ref}] {subject}", head, notice, files)))
    return out


async def run(args: argparse.Namespace) -> dict[str, float]:
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="aliasdesk-bare-"))
    db = sqlite3.connect(folder / "bare.db")
    db.execute(
        "CREATE TABLE mail (id INTEGER PRIMARY KEY, message_id TEXT, sender TEXT,"
        " subject TEXT, raw BLOB)"
    )
    owners = Owners(ROUTING)
    parser = BytesParser(policy=policy.compat32)
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
            if args.legacy:
                sent += await _legacy_one(db, smtp, raw)
            else:
                mail = parser.parsebytes(raw)
                cursor = db.execute(
                    "INSERT INTO mail (message_id, sender, subject, raw) VALUES (?, ?, ?, ?)",
                    (mail.get("Message-ID"), mail.get("From"), mail.get("Subject"), raw),
                )
                for sender, to, data in honest_mails(mail, int(cursor.lastrowid or 0), owners):
                    await smtp.sendmail(sender, [to], data)
                    sent += 1
            handled += 1
        db.commit()
    seconds = time.monotonic() - started
    await smtp.quit()
    imap.logout()
    db.close()
    shutil.rmtree(folder, ignore_errors=True)
    return {"mails": handled, "sent": sent, "seconds": seconds, "mails_per_s": handled / seconds}


async def _legacy_one(db: sqlite3.Connection, smtp: aiosmtplib.SMTP, raw: bytes) -> int:
    mail: Any = email.message_from_bytes(raw, policy=policy.default)
    cursor = db.execute(
        "INSERT INTO mail (message_id, sender, subject, raw) VALUES (?, ?, ?, ?)",
        (str(mail["Message-ID"]), str(mail["From"]), str(mail["Subject"]), raw),
    )
    ack = _legacy_ack(mail, int(cursor.lastrowid or 0))
    if ack is None:
        return 0
    await smtp.send_message(ack)
    return 1


def time_parsers(mails: int) -> dict[str, float]:
    """Milliseconds per mail of the stdlib's parsers on the bench's mailbox (best of 3)."""
    from bench.mailbox_gen import generate

    raws = [m.raw for m in generate(mails, tag="p")]
    contenders: dict[str, Callable[[bytes], Message]] = {
        "policy.default": lambda r: email.message_from_bytes(r, policy=policy.default),
        "policy.SMTP": lambda r: email.message_from_bytes(r, policy=policy.SMTP),
        "compat32": lambda r: BytesParser(policy=policy.compat32).parsebytes(r),
        "compat32, headers only (no MIME tree)": lambda r: BytesHeaderParser().parsebytes(r),
    }
    out = {}
    for name, parse in contenders.items():
        best = float("inf")
        for _ in range(3):
            began = time.perf_counter()
            for raw in raws:
                parse(raw)
            best = min(best, time.perf_counter() - began)
        out[name] = round(best * 1000 / len(raws), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parsers", type=int, metavar="MAILS", help="time the parsers only")
    for name in ("host", "user", "password", "folder"):
        parser.add_argument(f"--{name}")
    parser.add_argument("--port", type=int)
    parser.add_argument("--smtp-port", type=int)
    parser.add_argument("--legacy", action="store_true", help="the old loop (see above)")
    args = parser.parse_args()
    if args.parsers:
        print(json.dumps(time_parsers(args.parsers)))
        return
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
