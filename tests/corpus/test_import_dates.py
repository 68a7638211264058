"""The import sorts old mail by its Date field, read without parsing the other fields:
on every mail of the corpus (lone CRs, broken header blocks, odd dates among them) it
must find the date the stdlib's header parser finds."""

from __future__ import annotations

from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime

from aliasdesk.services import importer
from tests.support.corpus import CORPUS, message_files, require_corpus

require_corpus()


def _stdlib_written_at(raw: bytes) -> float:
    head = importer._HEADER_END.split(raw, maxsplit=1)[0]
    try:
        value = BytesHeaderParser().parsebytes(head).get("Date")
        return parsedate_to_datetime(str(value)).timestamp() if value else float("inf")
    except (TypeError, ValueError, IndexError, OverflowError):
        return float("inf")


def test_every_corpus_mail_sorts_by_the_date_the_stdlib_reads() -> None:
    names = message_files()
    assert len(names) > 500
    differing = [
        name
        for name in names
        if importer._written_at(raw := (CORPUS / name).read_bytes()) != _stdlib_written_at(raw)
    ]
    assert differing == []


def test_folded_lone_cr_and_broken_blocks_read_as_the_stdlib_reads() -> None:
    cases = [
        b"Subject: x\r\nDATE:  Mon, 1 Jan 2024\r\n 10:00:00 +0000\r\n\r\nbody",
        b"Subject: x\rDate: Mon, 1 Jan 2024 10:00:00 +0000\r\rbody",
        b"Subject: x\nnot a field\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\nbody",
        b"Date: yesterday\n\nbody",
        b"Subject: no date\n\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n",
    ]
    read = [importer._written_at(raw) for raw in cases]
    assert read == [_stdlib_written_at(raw) for raw in cases]
    assert read[0] == 1704103200.0 and read[1] == 1704103200.0
    assert read[2:] == [float("inf")] * 3
