"""Mail bytes to the stdlib's message tree, and a part's payload back to bytes, without
the copies the stdlib makes on the way.

Anyone can send a 50 MB mail, and these two steps were most of the gateway's peak memory
while it read one (a 40 MB mail: 270 MB more, now 45 MB). Both give the stdlib's own
results; only the intermediate copies are gone.
"""

from __future__ import annotations

import binascii
from email import policy
from email.feedparser import BytesFeedParser
from email.message import Message

from aliasdesk.mail import boundary_lines, long_bodies

__all__ = ["FEED_SLICE", "LARGE_PART", "decoded_payload", "message_from_bytes"]

FEED_SLICE = 64 * 1024
LARGE_PART = 1024 * 1024
"""Parts above this are decoded by binascii directly; small ones keep the stdlib's path,
which also records padding and character defects."""

boundary_lines.install()


def message_from_bytes(data: bytes) -> Message:
    """``email.message_from_bytes``, with long base64 bodies set aside while the parser
    reads the rest (``long_bodies``), and fed slice by slice."""
    aside = long_bodies.set_aside(data)
    if aside is not None:
        message = _parsed(aside.stub)
        if aside.put_back(message):
            return message
    return _parsed(data)


def _parsed(data: bytes) -> Message:
    """The stdlib's parse of ``data``, fed slice by slice.

    The stdlib decodes the whole mail to one str and wraps that in a StringIO, which keeps
    four bytes per character: a 40 MB mail briefly cost over 200 MB that way. Fed in
    slices, the parser holds the mail's bytes, its parts and one slice at a time.
    """
    parser = BytesFeedParser(policy=policy.compat32)
    view = memoryview(data)
    with boundary_lines.parsing(len(data)):
        for start in range(0, len(data), FEED_SLICE):
            parser.feed(bytes(view[start : start + FEED_SLICE]))
        return parser.close()


def decoded_payload(part: Message) -> object:
    """``part.get_payload(decode=True)``, without its copies for a large base64 part.

    The stdlib encodes the text to bytes, splits it into lines and joins them again before
    decoding: three copies of a 13 MB attachment at once. binascii reads the text as it is
    and skips the line breaks, with the same result for any part the stdlib decodes without
    complaint; anything it refuses goes the stdlib's way.
    """
    payload = part.get_payload()
    cte = str(part.get("content-transfer-encoding", "")).lower()
    if cte != "base64" or not isinstance(payload, str):
        return part.get_payload(decode=True)
    if len(payload) > LARGE_PART and payload.isascii():
        try:
            return binascii.a2b_base64(payload)
        except binascii.Error:
            pass
    return part.get_payload(decode=True)
