"""An LMTP client for the tests: what an MTA does when it hands a mail over (RFC 2033).

The stdlib's ``smtplib.LMTP`` speaks LHLO; after DATA it reads the first recipient's reply
and this reads the others, one per accepted recipient, from the same buffered stream.
(aiosmtplib 5.1 has no LMTP mode, and its reader drops replies that arrive together.)
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass


@dataclass(frozen=True)
class Handover:
    """What the server answered: per RCPT, then per accepted recipient after DATA."""

    rcpt: dict[str, int]
    data: list[tuple[int, str]]

    @property
    def codes(self) -> list[int]:
        return [code for code, _ in self.data]


def lmtp_deliver(
    port: int,
    raw: bytes,
    recipients: list[str],
    *,
    sender: str = "dave@example.com",
    host: str = "127.0.0.1",
    timeout: float = 30.0,
) -> Handover:
    with smtplib.LMTP(host, port, timeout=timeout) as client:
        code, text = client.ehlo("mta.example.com")
        assert code == 250, f"LHLO refused: {code} {text!r}"
        code, text = client.mail(sender)
        assert code == 250, f"MAIL refused: {code} {text!r}"
        rcpt = {address: client.rcpt(address)[0] for address in recipients}
        accepted = [address for address, code in rcpt.items() if code == 250]
        if not accepted:
            return Handover(rcpt, [])
        first = client.data(raw)
        replies = [first] + [client.getreply() for _ in accepted[1:]]
        return Handover(rcpt, [(code, text.decode(errors="replace")) for code, text in replies])
