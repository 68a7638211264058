"""``tickets list``: every ticket (CONTRACT §1 sets no limit), newest first, read a chunk
at a time with each chunk's counts and links."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout

import pytest
from sqlalchemy import event

from aliasdesk.cli.main import _parser
from aliasdesk.cli.output import print_json, print_json_items
from aliasdesk.runtime import Runtime
from aliasdesk.services import reports
from tests.support.harness import build_mail, feed, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer


@pytest.fixture
def runtime(tmp_path) -> Iterator[Runtime]:  # type: ignore[no-untyped-def]
    with ScriptedSmtpServer() as smtp:
        runtime = runtime_for(f"sqlite:///{tmp_path}/list.db", smtp.port)
        yield runtime
        runtime.close()


def test_every_ticket_in_chunks_with_its_counts_and_links(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed(runtime, *[build_mail(subject=f"request {n}") for n in range(5)])
    feed(runtime, build_mail(to="hr@example.com, it@example.com", subject="both"))
    feed(runtime, build_mail(subject="Re: [HR-1] more", body="And another thing."))
    with runtime.db.reader() as session:
        one_by_one = [
            reports.ticket_summary(session, ticket)
            for ticket in sorted(
                session.scalars(reports.select(reports.Ticket)),
                key=lambda t: (t.created_at, t.id),
                reverse=True,
            )
        ]
    statements: list[str] = []
    monkeypatch.setattr(reports, "LIST_CHUNK", 3)
    event.listen(runtime.db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with runtime.db.reader() as session:
        chunked = reports.list_tickets(session)
    assert len(chunked) == 7 and chunked == one_by_one
    selects = [text for text in statements if text.startswith("SELECT")]
    assert len(selects) == 1 + 3 * 3  # the ids, then per chunk: tickets, counts, links
    by_ref = {t["ref"]: t for t in chunked}
    assert by_ref["HR-1"]["message_count"] == 2
    assert by_ref["HR-6"]["links"] == ["IT-1"] and by_ref["IT-1"]["links"] == ["HR-6"]
    with runtime.db.reader() as session:
        assert [t["ref"] for t in reports.list_tickets(session, limit=2)] == [
            t["ref"] for t in one_by_one[:2]
        ]
        assert [t["ref"] for t in reports.list_tickets(session, "it")] == ["IT-1"]


def test_the_command_lists_all_unless_told_otherwise() -> None:
    parser = _parser()
    assert parser.parse_args(["tickets", "list"]).limit is None
    assert parser.parse_args(["tickets", "list", "--limit", "5"]).limit == 5
    with pytest.raises(SystemExit):
        parser.parse_args(["tickets", "list", "--limit", "0"])


@pytest.mark.parametrize(
    "items", [[], [{"ref": "HR-1", "links": ["IT-2"], "subject": "Grüße\n"}], [{"a": 1}, {"b": []}]]
)
def test_a_list_written_an_item_at_a_time_reads_as_print_json_writes_it(items: list) -> None:  # type: ignore[type-arg]
    whole, streamed = io.StringIO(), io.StringIO()
    with redirect_stdout(whole):
        print_json(items)
    with redirect_stdout(streamed):
        print_json_items(iter(items))
    assert streamed.getvalue() == whole.getvalue()
    assert json.loads(streamed.getvalue()) == items
