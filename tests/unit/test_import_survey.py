"""The import's survey of its source: the order mail is processed in, each mail's size and
digest, and how little it keeps for each mail (it is held for the whole import)."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from aliasdesk.services.importer import Survey
from aliasdesk.services.intake_store import content_digest, content_hash
from aliasdesk.services.mbox_reader import open_mbox

START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def _mail(n: int, day: int | None) -> bytes:
    date = f"Date: {format_datetime(START + timedelta(days=day))}\n" if day is not None else ""
    return f"From: p{n}@example.com\nSubject: mail {n}\n{date}\nbody {n}\n".encode()


def test_mail_is_taken_oldest_first_and_ties_and_undated_mail_keep_file_order() -> None:
    days = [3, None, 1, 1, None, 2, 0]
    raws = [_mail(n, day) for n, day in enumerate(days)]
    survey = Survey([lambda raw=raw: raw for raw in raws])
    assert list(survey.order) == [6, 2, 3, 5, 0, 1, 4]
    assert len(survey) == len(raws)


def test_the_survey_gives_each_mails_size_digest_and_reader() -> None:
    raws = [_mail(n, n) for n in range(5)]
    survey = Survey([lambda raw=raw: raw for raw in raws])
    for at, raw in enumerate(raws):
        entry = survey.entry(at)
        assert survey.digest(at) == entry.digest == content_hash(raw)
        assert entry.size == survey.sizes[at] == len(raw)
        assert entry.load() == raw


def test_the_digest_kept_is_the_content_hash_as_bytes() -> None:
    for raw in (b"", b"x", _mail(1, 1), bytes(range(256)) * 100):
        assert content_digest(raw).hex() == content_hash(raw)
        assert len(content_digest(raw)) == 32


def test_an_mbox_survey_keeps_under_a_hundred_bytes_a_mail(tmp_path: Path) -> None:
    """An object per mail (its reader, its order key and its digest as text) took about
    600 bytes a mail: 60 MB of an import of 100,000 mails."""
    path = tmp_path / "archive.mbox"
    count = 5000
    with open(path, "wb") as out:
        for n in range(count):
            out.write(b"From x Mon Jan  1 00:00:00 2024\n" + _mail(n, n % 400) + b"\n")
    tracemalloc.start()
    try:
        with open_mbox(path) as readers:
            survey = Survey(readers)
            held = tracemalloc.get_traced_memory()[0]
            assert len(survey) == count
    finally:
        tracemalloc.stop()
    assert held / count < 100, f"{held / count:.0f} bytes a mail"
