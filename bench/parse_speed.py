"""Parse cost per mail: aliasdesk's parse_mail against the stdlib parser with policy.default.

Run: .venv/bin/python bench/parse_speed.py [--rounds N]
Prints median milliseconds per mail over the shared corpus and over a generated typical
mail (multipart/alternative with an attachment), and the ratio. Absolute figures drift with
machine load; compare ratios from one run (FIELD-NOTES).
"""

from __future__ import annotations

import argparse
import base64
import email
import statistics
import time
import tracemalloc
from collections.abc import Callable
from email import policy

from aliasdesk.mail.machine import machine_verdict
from aliasdesk.mail.parse import parse_mail
from tests.support.corpus import CORPUS, MESSAGE_GLOBS

GLOBS = MESSAGE_GLOBS


def typical_mail() -> bytes:
    """A mail as Outlook or Gmail would send it to hr@: text + HTML + a 40 KB PDF."""
    pdf = base64.encodebytes(b"%PDF-1.4\n" + bytes(range(256)) * 160).decode()
    return (
        "From: =?utf-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.com>\n"
        "To: HR <hr@example.com>\nCc: boss@example.com\n"
        "Subject: =?utf-8?Q?Urlaubsantrag_f=C3=BCr_Mai?=\n"
        "Message-ID: <typical-1@example.com>\nDate: Mon, 6 May 2024 09:00:00 +0200\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="outer"\n\n'
        '--outer\nContent-Type: multipart/alternative; boundary="inner"\n\n'
        "--inner\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n\n"
        + "Hallo, ich m=C3=B6chte vom 6. bis 10. Mai Urlaub nehmen.\n" * 10
        + "\n--inner\nContent-Type: text/html; charset=utf-8\n\n"
        + "<p>Hallo, ich möchte vom 6. bis 10. Mai Urlaub nehmen.</p>\n" * 10
        + "\n--inner--\n--outer\nContent-Type: application/pdf\n"
        'Content-Disposition: attachment; filename="antrag.pdf"\n'
        "Content-Transfer-Encoding: base64\n\n" + pdf + "\n--outer--\n"
    ).encode()


def crowd_mail(recipients: int = 30_000) -> bytes:
    """A request copied to a crowd: the recipient list is where quadratic code hides."""
    crowd = ", ".join(f"person{i}@outside.example.org" for i in range(recipients))
    return (
        f"From: dave@example.com\nTo: hr@example.com, {crowd}\nSubject: All hands\n"
        "Message-ID: <crowd-1@example.com>\n\nSee you there.\n"
    ).encode()


def large_mail(megabytes: int = 40) -> bytes:
    """A request with three attachments of a third of ``megabytes`` each, base64."""
    encoded = base64.encodebytes(bytes(range(256)) * (megabytes * 1024 * 1024 // 1024)).decode()
    part = (
        "--b\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
        'Content-Disposition: attachment; filename="scan.pdf"\n\n' + encoded
    )
    return (
        "From: dave@example.com\nTo: hr@example.com\nSubject: Scans\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b"\n\n' + part * 3 + "--b--\n"
    ).encode()


def peak_mb(func: Callable[[bytes], object], raw: bytes) -> float:
    """The most memory ``func`` held at once on ``raw``, beyond the bytes themselves."""
    tracemalloc.start()
    try:
        func(raw)
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def median_ms(func: Callable[[bytes], object], mails: list[bytes], rounds: int) -> float:
    """Median over rounds of the mean per-mail time, in milliseconds."""
    results = []
    for _ in range(rounds):
        started = time.perf_counter()
        for raw in mails:
            func(raw)
        results.append((time.perf_counter() - started) / len(mails) * 1000)
    return statistics.median(results)


def stdlib_default(raw: bytes) -> object:
    """What a straightforward gateway does: policy.default, then read the usual fields."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    try:
        for name in ("From", "To", "Subject", "Message-ID"):
            _ = msg[name]
        body = msg.get_body(("plain", "html"))
        if body is not None:
            body.get_content()
    except Exception:  # the default policy raises on some corpus mails
        pass
    return msg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    corpus = sorted({p for pattern in GLOBS for p in CORPUS.glob(pattern)})
    corpus_mails = [p.read_bytes() for p in corpus]
    typical = [typical_mail()] * 200
    print(f"corpus: {len(corpus_mails)} mails from {CORPUS}")
    rows = [
        ("corpus", corpus_mails),
        ("typical mail (text+html+40KB pdf)", typical),
        ("30,000 recipients", [crowd_mail()]),
    ]
    for label, mails in rows:
        ours = median_ms(parse_mail, mails, args.rounds)
        verdict = median_ms(lambda raw: machine_verdict(parse_mail(raw)), mails, args.rounds)
        stdlib = median_ms(stdlib_default, mails, args.rounds)
        print(
            f"{label:36s} parse_mail {ours:6.3f} ms  +verdict {verdict:6.3f} ms  "
            f"policy.default {stdlib:6.3f} ms  ratio {stdlib / ours:4.1f}x"
        )
    large = large_mail()
    print(
        f"{len(large) / 1e6:.0f} MB mail: parse_mail {median_ms(parse_mail, [large], 1):.0f} ms, "
        f"peak {peak_mb(parse_mail, large):.0f} MB beyond the mail "
        f"(stdlib policy.default: {peak_mb(stdlib_default, large):.0f} MB)"
    )


if __name__ == "__main__":
    main()
