"""Attachment names from inbound mail: read however the sender wrote them, and made safe
to show, to store and to save on any system a member may use.

The cleaned name (:func:`safe_filename`) keeps what a person recognises (the stem, the
real extension) and loses every trick a sender can play with a name:

- directories (``../``, ``C:\\``) and NTFS alternate streams (``report.txt:evil.exe``):
  only the last path part is kept; ``:`` and the other characters Windows refuses
  (``<>"|?*``) become ``_``, so ``report.txt:evil.exe`` reads ``report.txt_evil.exe``;
- control, format and direction-changing characters (U+202E turns
  ``invoice_<RLO>fdp.exe`` into what looks like ``invoice_exe.pdf``): removed;
- an active final extension hidden behind a harmless one (``invoice.pdf.exe``,
  ``photo.jpg   .scr``): runs of spaces become one, spaces around dots go, and when the
  last extension is one that runs when opened, every earlier dot becomes ``_``
  (``invoice_pdf.exe``, ``photo_jpg.scr``): the name has one extension, the real one;
- leading dots (hidden files), trailing dots and spaces (Windows drops them, revealing
  whatever came before);
- Windows device names (CON, PRN, AUX, NUL, COM0-9, LPT0-9, with any extension and in
  any case): prefixed with ``_``, since writing ``con.txt`` on Windows writes to the console;
- an empty name: ``attachment`` plus an extension from the content type;
- a name over 200 bytes of UTF-8: the stem is shortened, the extension kept.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from email.message import Message

from aliasdesk.mail.active_content import ACTIVE_EXTENSIONS
from aliasdesk.mail.addresses import decode_bytes

__all__ = ["MAX_FILENAME_BYTES", "has_surrogates", "part_filename", "safe_filename"]

MAX_FILENAME_BYTES = 200
"""Well under the 255 bytes most file systems allow, leaving room for a folder's prefix."""
MAX_EXTENSION_CHARS = 16
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_WINDOWS_REFUSES = re.compile(r'[<>:"|?*]')
_SPACES = re.compile(r"\s+")
_SPACE_AROUND_DOT = re.compile(r" ?\. ?")
_DEVICE = re.compile(r"(?:CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]|CONIN\$|CONOUT\$)", re.I)
_MIME_EXT = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/html": ".html",
    "message/rfc822": ".eml",
    "text/calendar": ".ics",
}


def safe_filename(name: str, content_type: str = "") -> str:
    """A base name that cannot climb out of a folder, name a device or hide what it is
    (CONTRACT §5: attachment file names never decide where anything is written)."""
    name = _visible(name)
    name = next((part for part in reversed(re.split(r"[/\\]", name)) if part.strip()), "")
    name = _WINDOWS_REFUSES.sub("_", name)
    name = _SPACE_AROUND_DOT.sub(".", _SPACES.sub(" ", name)).strip(" .")
    name = _one_extension_when_active(name)
    name = _shortened(name)
    if _DEVICE.fullmatch(name.split(".", 1)[0].rstrip(" ")):
        name = "_" + name
    return name or "attachment" + _MIME_EXT.get(content_type.lower(), ".bin")


def _visible(name: str) -> str:
    """NFC, with control, format (bidi overrides, zero-width), private and unassigned
    characters removed; line and tab characters become spaces first, so words stay apart."""
    name = unicodedata.normalize("NFC", re.sub(r"[\t\r\n\v\f]", " ", name))
    return "".join(ch for ch in name if unicodedata.category(ch) not in _DROPPED_CATEGORIES)


def _extension(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    return extension if dot and stem and len(extension) <= MAX_EXTENSION_CHARS else ""


def _one_extension_when_active(name: str) -> str:
    """``invoice.pdf.exe`` -> ``invoice_pdf.exe``: a name whose last extension runs when
    opened shows no other extension that could be taken for what it is."""
    extension = _extension(name)
    if extension.lower() not in ACTIVE_EXTENSIONS:
        return name
    stem = name[: -len(extension) - 1]
    return stem.replace(".", "_") + "." + extension


def _shortened(name: str) -> str:
    """At most MAX_FILENAME_BYTES of UTF-8, cut on a character boundary, extension kept."""
    if len(name.encode("utf-8")) <= MAX_FILENAME_BYTES:
        return name
    extension = _extension(name)
    tail = "." + extension if extension else ""
    room = MAX_FILENAME_BYTES - len(tail.encode("utf-8"))
    stem = name[: len(name) - len(tail)].encode("utf-8")[:room].decode("utf-8", "ignore")
    return stem.rstrip(" .") + tail


def part_filename(
    part: Message, message_charset: Callable[[], str | None] | None = None
) -> str | None:
    """The part's file name (RFC 2231 parameters included), also when written in raw 8-bit.

    compat32 turns a header holding raw 8-bit bytes into replacement characters before its
    parameters are read; such headers are decoded first and read from a scratch message.
    Raw 8-bit that is not UTF-8 is read in the part's charset, else in the charset the
    message declares elsewhere (``message_charset``, asked only then): a mail client writes
    such names in its own charset, e.g. GB2312, and an attachment part rarely names one.
    """
    raw = [
        (key, str(value))
        for key, value in part.raw_items()
        if key.lower() in ("content-disposition", "content-type")
    ]
    if not any(has_surrogates(value) for _, value in raw):
        return part.get_filename()
    charset = part.get_content_charset() or (message_charset() if message_charset else None)
    scratch = Message()
    for key, value in raw:
        data = value.encode("ascii", "surrogateescape")
        try:
            scratch[key] = data.decode("utf-8")
        except UnicodeDecodeError:  # RFC 6532 UTF-8 failed: the part's own charset is next
            scratch[key] = decode_bytes(data, charset or "cp1252", [])
    return scratch.get_filename()


def has_surrogates(value: str) -> bool:
    """Whether a header held raw 8-bit bytes (decoded by compat32 as lone surrogates)."""
    # isascii() is a C-speed scan that settles nearly every header at once.
    return not value.isascii() and any("\udc80" <= ch <= "\udcff" for ch in value)
