"""Attachment names: whatever a sender writes, the stored and relayed name is safe to save
on Windows, macOS and Linux and shows what the file really is."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aliasdesk.mail.active_content import ACTIVE_EXTENSIONS
from aliasdesk.mail.filenames import MAX_FILENAME_BYTES, safe_filename
from aliasdesk.mail.parse import parse_mail

DEVICE = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]|CONIN\$|CONOUT\$)", re.I)
RLO = "\u202e"


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("Aux.Tar.GZ", "_Aux.Tar.GZ"),
        ("nul", "_nul"),
        ("COM1.pdf", "_COM1.pdf"),
        ("lpt9", "_lpt9"),
        ("prn .txt", "_prn.txt"),
        ("console.txt", "console.txt"),
        ("report.txt:evil.exe", "report_txt_evil.exe"),
        ("notes.txt:hidden", "notes.txt_hidden"),
        ("evil.exe. . .", "evil.exe"),
        ("letter.pdf   ", "letter.pdf"),
        (f"invoice_{RLO}fdp.exe", "invoice_fdp.exe"),
        ("invoice.pdf.exe", "invoice_pdf.exe"),
        ("photo.jpg   .scr", "photo_jpg.scr"),
        ("Photo.JPG.SCR", "Photo_JPG.SCR"),
        ("archive.tar.gz", "archive.tar.gz"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\report.docx", "report.docx"),
        ("folder/", "folder"),
        ("a\x00b\x1fc\x7f.txt", "abc.txt"),
        ("zero\u200bwidth.txt", "zerowidth.txt"),
        ("line\r\nbreak.txt", "line break.txt"),
        ('what?"<*>|.txt', "what______.txt"),
        (".bashrc", "bashrc"),
    ],
)
def test_hostile_names_are_cleaned(sent: str, kept: str) -> None:
    assert safe_filename(sent) == kept


@pytest.mark.parametrize(("sent", "content_type"), [("", ""), ("...", ""), (" / ", "")])
def test_an_empty_name_becomes_attachment(sent: str, content_type: str) -> None:
    assert safe_filename(sent, content_type) == "attachment.bin"
    assert safe_filename(sent, "application/pdf") == "attachment.pdf"


def test_a_long_name_keeps_its_extension_within_the_byte_limit() -> None:
    for stem in ("a" * 500, "é" * 300, "文" * 200, "😀" * 100):
        name = safe_filename(stem + ".docx")
        assert name.endswith(".docx") and name.startswith(stem[0])
        assert len(name.encode("utf-8")) <= MAX_FILENAME_BYTES
    assert len(safe_filename("x" * 1000).encode()) == MAX_FILENAME_BYTES


def _device(name: str) -> bool:
    return DEVICE.fullmatch(name.split(".", 1)[0].rstrip(" ")) is not None


def _check(name: str) -> None:
    assert name, "empty"
    assert len(name.encode("utf-8")) < 255
    assert not _device(name), name
    assert not set(name) & set('/\\:<>"|?*'), name
    assert not name.endswith((".", " ")) and not name.startswith((".", " ")), name
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]", name)
    stem, _, extension = name.rpartition(".")
    if stem and extension.lower() in ACTIVE_EXTENSIONS:
        assert "." not in stem, f"{name}: an active extension behind another one"


NAME_PIECES = st.sampled_from(
    ["CON", "nul", "Com1", "lpt3", ".", "..", " ", ":", "/", "\\", RLO, "\u200f", "\x00",
     "\r\n", "exe", ".exe", ".pdf", ".scr", "report", "é", "文", "😀", "\udcff", "   ", "*"]
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(NAME_PIECES, st.text(max_size=40)), max_size=30), st.text(max_size=30))
@example(["con", ".", "txt"], "")
@example(["invoice", ".pdf", "   ", ".exe", ". ."], "")
@example(["a" * 300, ".pdf.exe"], "")
def test_any_name_comes_out_safe_and_stays_as_it_is_once_clean(
    pieces: list[str], content_type: str
) -> None:
    name = safe_filename("".join(pieces), content_type)
    _check(name)
    assert safe_filename(name, content_type) == name


def test_parsed_attachments_carry_the_cleaned_name() -> None:
    raw = (
        b"From: dave@example.com\r\nTo: hr@example.com\r\nSubject: files\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--b\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''invoice_%E2%80%AEfdp.pdf.exe\r\n\r\n"
        b"MZ\r\n--b\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="LPT1.pdf"\r\n\r\n%PDF\r\n--b--\r\n'
    )
    names = [attachment.filename for attachment in parse_mail(raw).attachments]
    assert names == ["invoice_fdp_pdf.exe", "_LPT1.pdf"]
