"""The scripted mail of ``aliasdesk demo``: what a normal morning brings to the aliases."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime


def _mail(
    sender: str, to: str, subject: str, body: str, extra: str = "", message_id: str = ""
) -> bytes:
    stamp = format_datetime(datetime.now(UTC))
    mid = (
        message_id
        or f"<demo.{hashlib.sha1((sender + to + subject).encode()).hexdigest()[:16]}@example.com>"
    )
    head = (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {stamp}\r\n"
        f"Message-ID: {mid}\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n{extra}"
    )
    return (head + "\r\n" + body.replace("\n", "\r\n")).encode("utf-8")


def first_wave() -> list[tuple[str, bytes]]:
    """New requests, a mail to two departments, an auto-reply and a broken mail."""
    return [
        (
            "a request to HR",
            _mail(
                "Dave Miller <dave@example.com>",
                "hr@example.com",
                "Parental leave: which form?",
                "Hi HR,\nmy daughter is due in March. Which form do I fill in for parental leave?\n"
                "Thanks, Dave\n",
                message_id="<demo-leave@example.com>",
            ),
        ),
        (
            "a request to IT",
            _mail(
                "Erika Jansen <erika@example.com>",
                "it@example.com",
                "Laptop will not start",
                "Since this morning my laptop shows a black screen. Can someone help?\nErika\n",
                message_id="<demo-laptop@example.com>",
            ),
        ),
        (
            "a request to Facilities",
            _mail(
                "Sam Ortiz <sam@example.com>",
                "facilities@example.com",
                "Heating in room 3.12",
                "The heating in meeting room 3.12 has been off for two days.\nSam\n",
            ),
        ),
        (
            "one mail to HR and IT at once",
            _mail(
                "Nina Park <nina@example.com>",
                "hr@example.com, it@example.com",
                "New starter on Monday: contract and laptop",
                "Hello both,\nJo starts on Monday. HR: is the contract signed? IT: laptop ready?\n"
                "Nina\n",
            ),
        ),
        (
            "an out-of-office auto-reply",
            _mail(
                "Olaf Berg <olaf@example.com>",
                "it@example.com",
                "Automatic reply: Laptop will not start",
                "I am out of the office until Monday.\n",
                extra="Auto-Submitted: auto-replied\r\nX-Autoreply: yes\r\n",
            ),
        ),
        (
            "a malformed mail with no sender",
            b"To: hr@example.com\r\nSubject: ???\r\n"
            b'Content-Type: multipart/mixed; boundary="never-closed"\r\n\r\n--never-closed\r\n'
            b"garbage\xff\xfe",
        ),
    ]


def second_wave(hr_ref: str, hr_owner: str, answering: str) -> list[tuple[str, bytes]]:
    """The provider resolves by replying to the assignment mail (``answering``)."""
    return [
        (
            f"{hr_owner} resolves {hr_ref} by reply",
            _mail(
                hr_owner,
                "hr@example.com",
                f"Re: [{hr_ref}] Parental leave: which form?",
                "#resolve\n\nHi Dave, it is form HR-7 on the intranet; send it back to us signed.\n"
                "\nOn Mon, Dave wrote:\n> my daughter is due in March\n",
                extra=f"In-Reply-To: {answering}\r\nReferences: <demo-leave@example.com> "
                f"{answering}\r\n",
            ),
        ),
    ]


def third_wave(hr_ref: str) -> list[tuple[str, bytes]]:
    return [
        (
            "the requester answers the feedback request",
            _mail(
                "Dave Miller <dave@example.com>",
                "hr@example.com",
                f"Re: [{hr_ref}] How did we do?",
                "5 quick and clear, thank you!\n",
            ),
        ),
    ]
