"""A member answering between quoted lines: the requester gets the answers with the
questions they answer, and nothing quoted from mail only members received.

Through the real intake and SMTP server, on SQLite and PostgreSQL (the pipeline fixtures).
"""

from __future__ import annotations

from aliasdesk.runtime import Runtime
from tests.pipeline.test_conversation import (
    ALICE,
    kind_of,
    mails_to,
    member_reply,
    open_request,
    step,
    text_of,
)
from tests.support.harness import drain_jobs, feed
from tests.support.smtp_script import ScriptedSmtpServer

BOB = "Bob Baker <bob@example.com>"
QUESTION = "Which form do I need?"  # the request open_request sends


def _quoted_with_answer_below(text: str, marker: str, answer: str) -> str:
    """The whole mail quoted with "> ", the answer written below the line with ``marker``."""
    lines: list[str] = []
    for line in text.splitlines():
        lines.append(f"> {line}".rstrip())
        if marker in line:
            lines += ["", answer, ""]
    return "\n".join(lines)


def test_inline_answer_keeps_the_question_and_drops_the_handover_note(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp)
    note = "careful, he has asked three times already"
    step(runtime, member_reply(smtp, ALICE, f"#assign bob@example.com {note}"))
    [handover] = mails_to(smtp, "bob@example.com")
    assert kind_of(handover) == "assignment" and note in text_of(handover)

    answer = "Use form L-1 from the intranet."
    body = _quoted_with_answer_below(text_of(handover), QUESTION, answer)
    assert body.index(note) < body.index(answer)  # the note is quoted above the answer
    assert step(runtime, member_reply(smtp, BOB, body)) == "update_ticket"

    relay = mails_to(smtp, "dave@example.com")[-1]
    assert kind_of(relay) == "reply_relay"
    relayed = text_of(relay)
    quoted = [line for line in relayed.splitlines() if line.startswith(">")]
    assert [line.lstrip("> ") for line in quoted] == [QUESTION]
    assert answer in relayed
    assert relayed.index(QUESTION) < relayed.index(answer)
    assert note not in relayed
    assert "Priority" not in relayed and "bob@example.com" not in relayed


def test_top_posted_answer_relays_no_quote(runtime: Runtime, smtp: ScriptedSmtpServer) -> None:
    open_request(runtime, smtp)
    [assignment] = mails_to(smtp, "alice@example.com")
    quoted = "\n".join(f"> {line}".rstrip() for line in text_of(assignment).splitlines())
    body = f"Use form L-1.\n\nOn Mon, 3 Mar 2025 at 09:14, HR <hr@example.com> wrote:\n{quoted}"
    assert step(runtime, member_reply(smtp, ALICE, body)) == "update_ticket"
    relayed = text_of(mails_to(smtp, "dave@example.com")[-1])
    assert "Use form L-1." in relayed and QUESTION not in relayed


def test_replies_in_one_batch_read_what_the_requester_saw_once(
    runtime: Runtime, smtp: ScriptedSmtpServer, statements: list[str]
) -> None:
    """Two answers to one ticket fetched together: the ticket's public conversation is
    read once for both, and the second may quote the first, stored in the same batch."""
    open_request(runtime, smtp)
    first = "Use form L-1 from the intranet."
    second = f"> {QUESTION}\n\nAny form will do.\n\n> {first}\n\nAnd bring your ID."
    statements.clear()
    results = feed(runtime, member_reply(smtp, ALICE, first), member_reply(smtp, ALICE, second))
    assert [r.outcome for r in results] == ["update_ticket", "update_ticket"]
    reads = [s for s in statements if s.lstrip().startswith("SELECT messages.text")]
    assert len(reads) == 1, reads
    drain_jobs(runtime)
    relays = [text_of(m) for m in mails_to(smtp, "dave@example.com") if kind_of(m) == "reply_relay"]
    assert first in relays[0]
    assert f"> {QUESTION}" in relays[1] and f"> {first}" in relays[1]
