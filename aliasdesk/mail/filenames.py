"""Attachment names from inbound mail: read however the sender wrote them, and made safe
to show and to store (no directories, no hidden or direction-changing characters)."""

from __future__ import annotations

import re
from collections.abc import Callable
from email.message import Message

from aliasdesk.mail.addresses import decode_bytes

__all__ = ["has_surrogates", "part_filename", "safe_filename"]

_FILENAME_BAD = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
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
    """A base name that cannot climb out of a folder or hide characters (CONTRACT §5).

    Directory parts, control and bidi-override characters and leading dots are removed; an
    empty result becomes "attachment" plus an extension guessed from the content type.
    """
    name = _FILENAME_BAD.sub("", name.replace("\r", " ").replace("\n", " "))
    name = re.split(r"[/\\]", name)[-1].strip().lstrip(".").strip()
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:190] + dot + ext[:9]) if dot and len(ext) <= 9 else name[:200]
    if not name:
        name = "attachment" + _MIME_EXT.get(content_type, ".bin")
    return name


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
