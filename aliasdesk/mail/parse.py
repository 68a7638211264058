"""Raw bytes to ParsedMail, for any input, without raising.

The gateway takes in whatever arrives, so this module is where hostile and broken mail
stops being bytes. Design choices, each measured or forced by the corpus:

* the stdlib parser with the ``compat32`` policy (about 1 ms per mail against 4.6 ms for
  ``policy.default``, FIELD-NOTES); headers are decoded here from the raw strings
  (RFC 2047, RFC 2231), never through the policy's header objects, some of which raise on
  access;
* every problem becomes a short defect string (``unknown-charset:x``, ``no-from``,
  ``truncated``, ``attachment-dropped:NAME:SIZE``...) so the pipeline can quarantine with a
  reason instead of crashing;
* nested MIME is walked with an explicit depth bound.

Facts the machine-mail check needs from inside the MIME tree go into ``ParsedMail.extra``:
``part-types`` (every content type, space separated), ``report-type`` (RFC 3462 parameter
of a multipart/report), ``embedded-message-ids`` (Message-IDs of mail carried inside, e.g.
the original of a bounce, RFC 3464 §2 / RFC 6522) and ``report-text`` (the
message/delivery-status or feedback-report fields, RFC 3464 / RFC 5965).
"""

from __future__ import annotations

from email import policy
from email.message import Message
from email.parser import HeaderParser

from aliasdesk.mail.addresses import (
    decode_header_value,
    parse_address_list,
    parse_message_id,
    parse_message_ids,
    single_line,
)
from aliasdesk.mail.filenames import has_surrogates, safe_filename
from aliasdesk.mail.html_text import html_to_text
from aliasdesk.mail.mime_tree import message_from_bytes
from aliasdesk.mail.mime_walk import MAX_DEPTH, PartWalker, body_charset, mime_defects
from aliasdesk.mail.model import Address, ParsedMail

__all__ = ["DEFAULT_MAX_ATTACHMENT_BYTES", "MAX_DEPTH", "parse_mail", "safe_filename"]

DEFAULT_MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
HTML_TEXT_LIMIT = 4 * 1024 * 1024
"""Characters of an HTML body turned into ticket text. html.parser holds several copies of
what it converts (22 MB of HTML took 165 MB); the raw mail keeps the rest."""

_ADDRESS_HEADERS = ("from", "sender", "reply-to", "to", "cc", "delivered-to", "x-original-to")


def _normalise_newlines(raw: bytes) -> bytes:
    """Mail with bare-CR line ends (classic Mac OS) becomes LF mail; others stay as they are.

    Only the line-end style of the header block decides, so CR bytes inside binary parts of
    ordinary mail are never touched.
    """
    head = raw[:4096]
    if b"\r" in head and b"\n" not in head.rstrip(b"\r\n")[:2048]:
        return raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return raw


def _strip_envelope(raw: bytes) -> bytes:
    """Drop an mbox "From " envelope line (not a header, RFC 4155) if the file starts with one."""
    if raw.startswith(b"From "):
        end = raw.find(b"\n")
        return raw[end + 1 :] if end >= 0 else b""
    return raw


def _build(raw: bytes, max_attachment_bytes: int, defects: list[str]) -> ParsedMail:
    size = len(raw)
    if not raw.strip():
        return ParsedMail(size=size, is_empty=True, defects=("empty",))
    data = _strip_envelope(_normalise_newlines(raw))
    msg = _message(data, defects)
    headers, raw_values, fallback = _header_fields(msg, defects)

    def first(name: str) -> str | None:
        values = raw_values.get(name)
        return values[0] if values else None

    def addresses(name: str) -> tuple[Address, ...]:
        found: list[Address] = []
        for value in raw_values.get(name, ()):
            found.extend(parse_address_list(value, defects, name, fallback))
        return tuple(found)

    parsed_addresses = {name: addresses(name) for name in _ADDRESS_HEADERS}
    from_ = parsed_addresses["from"][0] if parsed_addresses["from"] else None
    if from_ is None and headers:
        defects.append("no-from" if "from" not in raw_values else "from-no-address")
    sender = parsed_addresses["sender"]
    walker = PartWalker(max_attachment_bytes, defects, msg)
    walker.walk(msg, 0, False)
    mime_defects(msg, defects)
    if (
        "truncated" not in defects
        and not data.endswith((b"\n", b"\r"))
        and b"\n\n" not in data
        and b"\r\n\r\n" not in data
    ):
        defects.append("truncated")  # cut off inside the header block
    text, html = _body(walker, defects)
    subject, date = first("subject"), first("date")
    return ParsedMail(
        message_id=parse_message_id(first("message-id")),
        from_=from_,
        reply_to=parsed_addresses["reply-to"],
        sender=sender[0] if sender else None,
        to=parsed_addresses["to"],
        cc=parsed_addresses["cc"],
        delivered_to=parsed_addresses["delivered-to"],
        x_original_to=parsed_addresses["x-original-to"],
        subject=decode_header_value(subject, defects, "subject", fallback) if subject else "",
        date=single_line(date) or None if date is not None else None,
        in_reply_to=parse_message_ids(first("in-reply-to")),
        references=parse_message_ids(" ".join(raw_values.get("references", ()))),
        headers=tuple(headers),
        content_type=_content_type(msg),
        text=text,
        html=html,
        attachments=tuple(walker.attachments),
        defects=tuple(defects),
        size=size,
        is_empty=not headers,
        extra=_extra(walker),
    )


def _message(data: bytes, defects: list[str]) -> Message:
    """The MIME tree; only the header block when the nesting is too deep to parse."""
    try:
        return message_from_bytes(data)
    except RecursionError:
        defects.append("nesting-too-deep")
        return HeaderParser(policy=policy.compat32).parsestr(
            data.decode("ascii", "surrogateescape"), headersonly=True
        )


def _header_fields(
    msg: Message, defects: list[str]
) -> tuple[list[tuple[str, str]], dict[str, list[str]], str | None]:
    """The decoded header fields in order, the raw values by lower-case name, and the
    charset that 8-bit header bytes are read in (the body's, when any are there)."""
    items = [(single_line(str(key)).lower(), str(value)) for key, value in msg.raw_items()]
    fallback = body_charset(msg) if any(has_surrogates(v) for _, v in items) else None
    headers: list[tuple[str, str]] = []
    raw_values: dict[str, list[str]] = {}
    for name, text in items:
        raw_values.setdefault(name, []).append(text)
        headers.append((name, decode_header_value(text, defects, name, fallback)))
    if not headers:
        defects.append("no-headers")
    return headers, raw_values, fallback


def _body(walker: PartWalker, defects: list[str]) -> tuple[str, str | None]:
    """The text and HTML of the body: the first non-empty text/plain of the mail itself,
    else its HTML as text, else text found only inside an embedded message (a forward,
    a bounced original)."""
    html = walker.html if walker.html is not None else walker.nested_html
    if walker.text is not None and walker.text.strip():
        return walker.text, html
    if html is not None:
        if len(html) > HTML_TEXT_LIMIT:
            defects.append(f"html-cut:{len(html)}")
            html = html[:HTML_TEXT_LIMIT]
        return html_to_text(html), html
    return walker.text or walker.nested_text or "", html


def _extra(walker: PartWalker) -> dict[str, str]:
    extra: dict[str, str] = {"part-types": " ".join(dict.fromkeys(walker.part_types))}
    if walker.report_type:
        extra["report-type"] = walker.report_type
    if walker.embedded_ids:
        extra["embedded-message-ids"] = " ".join(dict.fromkeys(walker.embedded_ids))
    if walker.report_text:
        extra["report-text"] = "\n".join(walker.report_text)
    return extra


def _content_type(msg: Message) -> str:
    try:
        return msg.get_content_type()
    except Exception:
        return "text/plain"


def parse_mail(
    raw: bytes, *, max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES
) -> ParsedMail:
    """Parse one mail; never raises, whatever ``raw`` holds.

    Attachments larger than ``max_attachment_bytes`` keep their name and size but no data
    (defect ``attachment-dropped:NAME:SIZE``). Anything that could not be read is listed in
    ``defects``; the caller decides whether that is worth a quarantine.
    """
    defects: list[str] = []
    try:
        return _build(bytes(raw), max_attachment_bytes, defects)
    except Exception as exc:  # the promise is: never raise
        defects.append(f"parse-failed:{type(exc).__name__}")
        return ParsedMail(size=len(raw), is_empty=not raw, defects=tuple(defects))
