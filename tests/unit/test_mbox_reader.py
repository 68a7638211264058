"""The import's own mbox reader finds exactly the messages ``mailbox.mbox`` finds, with the
same bytes, whatever the file looks like and wherever its chunks are cut."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest

from aliasdesk.services import mbox_reader
from aliasdesk.services.mbox_reader import open_mbox
from tests.support.corpus import CORPUS, MBOX

ONE = b"From: a@example.com\nSubject: one\n\nHello\n"
TWO = b"From: b@example.com\nSubject: two\n\nFrom the start\n>From quoted\n"
SHAPES = {
    "written by mailbox": None,
    "empty": b"",
    "no From line at all": b"Subject: stray\n\nnot an mbox\n",
    "junk before the first": b"junk\n\nFrom x Mon Jan  1 00:00:00 2024\n" + ONE,
    "no blank line between": b"From x\n" + ONE + b"From y\n" + TWO,
    "blank lines between": b"From x\n" + ONE + b"\n\n\nFrom y\n" + TWO + b"\n",
    "no newline at the end": b"From x\n" + ONE + b"\nFrom y\nSubject: last\n\nend",
    "blank lines at the end": b"From x\n" + ONE + b"\n\n\n",
    "CRLF lines": (b"From x\r\n" + ONE + b"\r\nFrom y\r\n" + TWO).replace(b"\n", b"\r\n"),
    "From lines only": b"From x\nFrom y\n\nFrom z",
    "unquoted From in a body": b"From x\n" + ONE + b"From the body, unquoted\nmore\n",
    "starts with a blank line": b"\nFrom x\n" + ONE,
}


def _expected(path: Path) -> list[bytes]:
    box = mailbox.mbox(str(path), create=False)
    return [box.get_bytes(key) for key in box.keys()]  # noqa: SIM118


def _read(path: Path) -> list[bytes]:
    with open_mbox(path) as readers:
        return [read() for read in readers]


def _write(tmp_path: Path, shape: bytes | None) -> Path:
    path = tmp_path / "archive.mbox"
    if shape is None:
        box = mailbox.mbox(str(path))
        for raw in (ONE, TWO, ONE + b"\n\n"):
            box.add(raw)
        box.close()
    else:
        path.write_bytes(shape)
    return path


@pytest.mark.parametrize("chunk", [1 << 20, 7, 1])
@pytest.mark.parametrize("name", list(SHAPES))
def test_the_same_messages_as_mailbox_mbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, chunk: int
) -> None:
    monkeypatch.setattr(mbox_reader, "CHUNK", chunk)
    path = _write(tmp_path, SHAPES[name])
    assert _read(path) == _expected(path)


@pytest.mark.parametrize("chunk", [1 << 20, 64])
def test_the_corpus_mboxes_read_the_same(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    if not CORPUS.is_dir():
        pytest.skip("the mail corpus is not here")
    monkeypatch.setattr(mbox_reader, "CHUNK", chunk)
    paths = [CORPUS / MBOX, *sorted((CORPUS / "zammad" / "mail").glob("*.box"))]
    for path in paths:
        assert _read(path) == _expected(path), path


def test_a_message_read_after_the_mbox_is_closed_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, None)
    with open_mbox(path) as readers:
        assert readers[0]() == _expected(path)[0]
    with pytest.raises(ValueError, match="read after its mbox was closed"):
        readers[0]()


def test_the_readers_are_a_sequence_made_on_demand(tmp_path: Path) -> None:
    """Only the bounds are kept (an import holds the readers until it ends); each index or
    slice makes readers of the same messages, in file order."""
    path = _write(tmp_path, b"From x\n" + ONE + b"\nFrom y\n" + ONE + b"From z\n" + ONE)
    expected = _expected(path)
    with open_mbox(path) as readers:
        assert len(readers) == len(expected) == 3
        assert [readers[at]() for at in range(len(readers))] == expected
        assert readers[-1]() == expected[-1]
        assert [read() for read in readers[1:]] == expected[1:]
        assert [read() for read in readers[::-2]] == expected[::-2]
        with pytest.raises(IndexError):
            readers[3]
