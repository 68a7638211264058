"""Generated mail through the whole intake: nothing escapes, nothing is lost or repeated.

Hypothesis builds mail the way broken and hostile senders do: random headers, RFC 2047
encoded-words in random (and unknown) charsets, MIME trees with wrong or missing
boundaries, random Content-Transfer-Encodings, raw bytes in bodies, mixed line endings.
Each mail is fed through ``feed()`` (store raw, then every pipeline stage) on SQLite and
must end as exactly one inbound entry with an outcome, a reason and its raw bytes; fed
again it must be a logged duplicate that changes nothing.

Examples: 150 by default (about half a minute); ``ALIASDESK_RELIABILITY_FULL=1`` runs
2,000.
"""

from __future__ import annotations

import base64
import itertools
import os
import quopri
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from aliasdesk.db.models import InboundMail, Job, Ticket
from aliasdesk.inbound.context import OUTCOMES
from aliasdesk.runtime import Runtime
from tests.support.harness import feed, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

FULL = os.environ.get("ALIASDESK_RELIABILITY_FULL") == "1"
settings.register_profile(
    "aliasdesk-fuzz",
    max_examples=2000 if FULL else 150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("aliasdesk-fuzz")
_sequence = itertools.count(1)

CHARSETS = (
    "utf-8",
    "UTF-8",
    "iso-8859-1",
    "windows-1252",
    "shift_jis",
    "iso-2022-jp",
    "gb2312",
    "koi8-r",
    "utf-16",
    "utf-7",
    "us-ascii",
    "x-unknown",
    "fakescii",
    "base64",
    "zlib",
    "charset=us-ascii",
    "",
)
ENCODINGS = ("7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "bogus", "")
CONTENT_TYPES = (
    "text/plain",
    "text/html",
    "text/enriched",
    "application/octet-stream",
    "image/png",
    "message/delivery-status",
    "text/rfc822-headers",
    "message/rfc822",
    "multipart/",
    "garbage",
)
HEADER_NAMES = (
    "Subject",
    "From",
    "To",
    "Cc",
    "Reply-To",
    "In-Reply-To",
    "References",
    "Date",
    "Auto-Submitted",
    "Precedence",
    "List-Id",
    "Content-Type",
    "Content-Disposition",
    "X-Mailer",
    "Return-Path",
)
SENDERS = (
    "Dave Miller <dave@example.com>",
    "Dave Miller <dave@example.com>",
    "dave@example.com",
    '"Miller, Dave" <dave@example.com>',
    "=?utf-8?q?J=C3=B6rg?= <jorg@example.org>",
    "<>",
    "MAILER-DAEMON",
    "",
    "noreply@monitoring.example.net",
)
RECIPIENTS = (
    "hr@example.com",
    "hr@example.com",
    "it@example.com, hr@example.com",
    "nobody@elsewhere.example",
    "",
)

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)
raw_bytes = st.binary(max_size=400)


@st.composite
def encoded_word(draw: st.DrawFn) -> str:
    """One RFC 2047 word, valid or not, in a random (possibly unknown) charset."""
    charset = draw(st.sampled_from(CHARSETS))
    payload = draw(st.one_of(raw_bytes, text.map(lambda t: t.encode("utf-8"))))
    if draw(st.booleans()):
        body = base64.b64encode(payload).decode()
        if draw(st.booleans()):
            body = body[: draw(st.integers(0, len(body)))]  # broken padding
        return f"=?{charset}?B?{body}?="
    body = quopri.encodestring(payload, header=True).decode("ascii", "replace")
    return f"=?{charset}?Q?{body.replace(chr(10), '')}?="


header_value = st.one_of(
    text,
    st.lists(st.one_of(encoded_word(), text), max_size=4).map(" ".join),
    raw_bytes.map(lambda b: b.decode("latin-1")),
)


@st.composite
def leaf(draw: st.DrawFn) -> bytes:
    ctype = draw(st.sampled_from(CONTENT_TYPES))
    charset = draw(st.sampled_from(CHARSETS))
    cte = draw(st.sampled_from(ENCODINGS))
    body = draw(st.one_of(raw_bytes, text.map(lambda t: t.encode("utf-8"))))
    if cte == "base64" and draw(st.booleans()):
        body = base64.encodebytes(body)
    elif cte == "quoted-printable" and draw(st.booleans()):
        body = quopri.encodestring(body)
    lines = [f"Content-Type: {ctype}; charset={charset}".encode()]
    if cte:
        lines.append(f"Content-Transfer-Encoding: {cte}".encode())
    if draw(st.booleans()):
        name = draw(st.sampled_from(("../../etc/passwd", "a.pdf", "", "=?utf-8?q?=2E=2E?=")))
        lines.append(f'Content-Disposition: attachment; filename="{name}"'.encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _multipart(children: list[bytes], boundary: str, broken: str) -> bytes:
    """A multipart body; ``broken`` leaves out the close or uses the wrong boundary."""
    inner = boundary if broken != "wrong" else boundary + "X"
    parts = b"".join(b"--" + inner.encode() + b"\r\n" + child + b"\r\n" for child in children)
    close = b"" if broken == "unclosed" else b"--" + inner.encode() + b"--\r\n"
    head = f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode()
    return head + b"preamble\r\n" + parts + close


def mime_tree() -> st.SearchStrategy[bytes]:
    def extend(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
        multipart = st.builds(
            _multipart,
            st.lists(children, max_size=4),
            st.text(alphabet="abcXYZ019'=_-. ", min_size=0, max_size=20),
            st.sampled_from(("", "", "unclosed", "wrong")),
        )
        embedded = children.map(lambda c: b"Content-Type: message/rfc822\r\n\r\n" + c)
        return st.one_of(multipart, embedded)

    return st.recursive(leaf(), extend, max_leaves=8)


SEQ = b"@@SEQ@@"
"""Replaced by a per-run number in the test body (a strategy must not read a counter):
it makes each generated mail distinct unless truncation cut it away."""


@st.composite
def mail(draw: st.DrawFn) -> bytes:
    """A whole mail: fixed-form headers, random ones, a MIME tree, random line endings.

    Message-ID is sometimes left out on purpose: dedupe then relies on the bytes.
    """
    lines = [b"X-Fuzz-Sequence: " + SEQ]
    sender = draw(st.sampled_from(SENDERS))
    if sender or draw(st.booleans()):
        lines.append(f"From: {sender}".encode())
    lines.append(f"To: {draw(st.sampled_from(RECIPIENTS))}".encode())
    if draw(st.booleans()):
        lines.append(b"Message-ID: <fuzz-" + SEQ + b"@example.com>")
    for name, value in draw(
        st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_value), max_size=6)
    ):
        lines.append(name.encode() + b": " + value.encode("utf-8", "surrogateescape"))
    body = draw(mime_tree())
    raw = b"\r\n".join(lines) + b"\r\n" + body
    ending = draw(st.sampled_from((b"\r\n", b"\r\n", b"\n", b"\r")))
    if ending != b"\r\n":
        raw = raw.replace(b"\r\n", ending)
    if draw(st.integers(0, 9)) == 0:  # cut off anywhere after the sequence number
        raw = raw[: draw(st.integers(min(len(raw), 24), len(raw)))]
    return raw


@pytest.fixture(scope="module")
def fuzz_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """One SQLite runtime for every example: a fresh database each would dominate."""
    folder = tmp_path_factory.mktemp("fuzz")
    with ScriptedSmtpServer() as smtp:
        runtime = runtime_for(f"sqlite:///{folder}/fuzz.db", smtp.port)
        yield runtime
        runtime.close()


def _counts(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.db.reader() as session:
        return tuple(  # type: ignore[return-value]
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (InboundMail, Ticket, Job)
        )


def _check_first_feed(runtime: Runtime, raw: bytes) -> tuple[int, int, int]:
    """Feed once: one new entry with an outcome and a reason; returns the counts after.

    A first feed may be a duplicate only of a mail with the same bytes or Message-ID
    (generated mail can repeat when truncation cut its sequence number away).
    """
    inbound, tickets, jobs = _counts(runtime)
    [result] = feed(runtime, raw)
    event(f"outcome {result.outcome}")  # shown by --hypothesis-show-statistics
    assert result.outcome in OUTCOMES, result
    assert result.reason.strip() and result.reason != "internal-error", result
    with runtime.db.reader() as session:
        row = session.get(InboundMail, result.inbound_id)
        assert row is not None and row.raw == raw, result
        assert row.error is None, row.error
        if result.outcome == "duplicate":
            earlier = session.get(InboundMail, row.duplicate_of)
            assert earlier is not None and earlier.outcome != "duplicate", result
            assert earlier.raw == raw or earlier.message_id == row.message_id, result
    after = _counts(runtime)
    assert after[0] == inbound + 1
    opened = len(result.ticket_refs) if result.outcome == "new_ticket" else 0
    assert after[1] == tickets + opened, result
    if result.outcome in {"duplicate", "ignored", "quarantined"}:
        assert after[2] == jobs, f"{result.outcome} mail queued work"
    return after


def _check_refeed(runtime: Runtime, raw: bytes, before: tuple[int, int, int]) -> None:
    [again] = feed(runtime, raw)
    assert again.outcome == "duplicate" and again.ticket_refs == (), again
    assert _counts(runtime) == (before[0] + 1, before[1], before[2])


@FUZZ
@given(template=mail())
def test_generated_mail_is_accounted_for_once(fuzz_runtime: Runtime, template: bytes) -> None:
    raw = template.replace(SEQ, str(next(_sequence)).encode())
    after = _check_first_feed(fuzz_runtime, raw)
    _check_refeed(fuzz_runtime, raw, after)


@FUZZ
@given(raw=st.binary(max_size=3000))
def test_arbitrary_bytes_are_accounted_for_once(fuzz_runtime: Runtime, raw: bytes) -> None:
    """Any bytes at all: first seen or a repeat of earlier bytes, never lost or doubled."""
    after = _check_first_feed(fuzz_runtime, raw)
    _check_refeed(fuzz_runtime, raw, after)
