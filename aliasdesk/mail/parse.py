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

import re
from email import policy
from email.message import Message
from email.parser import HeaderParser

from aliasdesk.mail.addresses import (
    decode_bytes,
    decode_header_value,
    parse_address_list,
    parse_message_id,
    parse_message_ids,
    single_line,
)
from aliasdesk.mail.filenames import has_surrogates, part_filename, safe_filename
from aliasdesk.mail.html_text import html_to_text
from aliasdesk.mail.mime_tree import decoded_payload, message_from_bytes
from aliasdesk.mail.model import Address, Attachment, ParsedMail

__all__ = ["DEFAULT_MAX_ATTACHMENT_BYTES", "MAX_DEPTH", "parse_mail", "safe_filename"]

DEFAULT_MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
MAX_DEPTH = 20
HTML_TEXT_LIMIT = 4 * 1024 * 1024
"""Characters of an HTML body turned into ticket text. html.parser holds several copies of
what it converts (22 MB of HTML took 165 MB); the raw mail keeps the rest."""

_ADDRESS_HEADERS = ("from", "sender", "reply-to", "to", "cc", "delivered-to", "x-original-to")
_KNOWN_CTE = frozenset(
    {"7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "uuencode", "uue"}
)
_REPORT_TYPES = frozenset(
    {"message/delivery-status", "message/disposition-notification", "message/feedback-report"}
)
_MSGID_LINE = re.compile(rb"^message-id:[ \t]*(<[^<>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


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


class _Walker:
    """Collects bodies, attachments and report facts from one message tree."""

    def __init__(self, max_attachment_bytes: int, defects: list[str], root: Message) -> None:
        self.max_bytes = max_attachment_bytes
        self.defects = defects
        self.root = root
        self._message_charset: list[str | None] = []
        self.text: str | None = None
        self.nested_text: str | None = None
        self.html: str | None = None
        self.nested_html: str | None = None
        self.attachments: list[Attachment] = []
        self.part_types: list[str] = []
        self.embedded_ids: list[str] = []
        self.report_text: list[str] = []
        self.report_type = ""

    def message_charset(self) -> str | None:
        """The first charset the message declares, for file names written in raw 8-bit
        without one of their own (looked for once, and only when such a name turns up)."""
        if not self._message_charset:
            self._message_charset.append(_body_charset(self.root))
        return self._message_charset[0]

    def defect(self, tag: str) -> None:
        if tag not in self.defects:
            self.defects.append(tag)

    def walk(self, part: Message, depth: int, nested: bool) -> None:
        if depth > MAX_DEPTH:
            self.defect("nesting-too-deep")
            return
        try:
            ctype = part.get_content_type()
        except Exception:
            self.defect("part-unreadable")
            ctype = "text/plain"
        self.part_types.append(ctype)
        try:
            if ctype == "multipart/report" and not self.report_type:
                self.report_type = str(part.get_param("report-type") or "").lower()
            if ctype in _REPORT_TYPES:
                self._report(part)
            elif ctype == "message/rfc822" or (
                ctype.startswith("message/") and part.is_multipart()
            ):
                self._message(part, depth, nested)
            elif part.is_multipart():
                payload = part.get_payload()
                if isinstance(payload, list):
                    for sub in payload:
                        if isinstance(sub, Message):
                            self.walk(sub, depth + 1, nested)
            else:
                self._leaf(part, ctype, nested)
        except RecursionError:
            self.defect("nesting-too-deep")
        except Exception:  # one broken part must not lose the others
            self.defect("part-unreadable")

    def _report(self, part: Message) -> None:
        """Keep the machine-readable report fields as text (RFC 3464 §2.1, RFC 5965 §3.1)."""
        payload = part.get_payload()
        if isinstance(payload, list):
            blocks = [sub.as_string() for sub in payload if isinstance(sub, Message)]
            text = "\n".join(blocks)
        else:
            raw = part.get_payload(decode=True)
            text = decode_bytes(raw, None, self.defects) if isinstance(raw, bytes) else ""
        self.report_text.append(text[:20000])

    def _message(self, part: Message, depth: int, nested: bool) -> None:
        """An embedded mail: remember its Message-ID, keep it as attachment if labelled one."""
        payload = part.get_payload()
        subs = [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []
        for sub in subs[:1]:
            mid = parse_message_id(_raw_header(sub, "message-id"))
            if mid:
                self.embedded_ids.append(mid)
        name = part_filename(part, self.message_charset)
        if part.get_content_disposition() == "attachment" or name:
            data = b""
            try:
                data = subs[0].as_bytes(policy=policy.compat32) if subs else b""
            except Exception:
                self.defect("part-unreadable")
            if not name and subs:
                subject = _raw_header(subs[0], "subject") or ""
                name = decode_header_value(subject, [], "subject")[:150] + ".eml"
            self._add_attachment(part, "message/rfc822", data, "attachment", name)
        for sub in subs:
            self.walk(sub, depth + 1, True)

    def _leaf(self, part: Message, ctype: str, nested: bool) -> None:
        cte = str(part.get("content-transfer-encoding", "") or "").strip().lower()
        if cte and cte not in _KNOWN_CTE:
            self.defect(f"unknown-transfer-encoding:{single_line(cte)[:30]}")
        data = decoded_payload(part)
        if not isinstance(data, bytes):
            data = b""
        if ctype == "text/rfc822-headers":
            self.embedded_ids.extend(
                m.decode("ascii", "replace") for m in _MSGID_LINE.findall(data)
            )
        disposition = part.get_content_disposition()
        filename = part_filename(part, self.message_charset)
        is_body_type = ctype in ("text/plain", "text/html")
        if disposition != "attachment" and not filename and is_body_type:
            text = decode_bytes(data, part.get_content_charset(), self.defects)
            if ctype == "text/plain":
                if nested:
                    self.nested_text = self.nested_text if self.nested_text is not None else text
                elif self.text is None or not self.text.strip():
                    self.text = text
            elif nested:
                self.nested_html = self.nested_html if self.nested_html is not None else text
            elif self.html is None:
                self.html = text
            return
        inline = disposition == "inline" or (disposition is None and "content-id" in part)
        if disposition is None and not filename and ctype.startswith("text/"):
            # An unnamed text part of another type (text/enriched, text/rfc822-headers):
            # useful as a file, not as the body.
            inline = False
        self._add_attachment(part, ctype, data, "inline" if inline else "attachment", filename)

    def _add_attachment(
        self,
        part: Message,
        ctype: str,
        data: bytes,
        disposition: str,
        filename: str | None = None,
    ) -> None:
        if filename is None:
            filename = part_filename(part, self.message_charset)
        name = decode_header_value(str(filename or ""), self.defects, "filename")
        name = safe_filename(name, ctype)
        cid_raw = part.get("content-id")
        cid = single_line(str(cid_raw)).strip("<> ") or None if cid_raw else None
        size = len(data)
        kept: bytes | None = data
        if size > self.max_bytes:
            kept = None
            self.defect(f"attachment-dropped:{name}:{size}")
        self.attachments.append(
            Attachment(
                filename=name,
                content_type=ctype,
                size=size,
                data=kept,
                inline=disposition == "inline",
                content_id=cid,
            )
        )


def _body_charset(msg: Message) -> str | None:
    """The first charset the MIME tree declares: the best guess for raw 8-bit headers."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop(0)
        try:
            charset = part.get_content_charset()
        except Exception:
            charset = None
        if charset:
            return str(charset)
        payload = part.get_payload() if depth < MAX_DEPTH else None
        if isinstance(payload, list):
            stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))
    return None


def _raw_header(msg: Message, name: str) -> str | None:
    """First raw value of a header, read without the policy's parsing (which may raise)."""
    for key, value in msg.raw_items():
        if key.lower() == name:
            return str(value)
    return None


def _mime_defects(msg: Message, defects: list[str], depth: int = 0) -> None:
    """Translate the stdlib's defect objects into short strings, whole tree, bounded depth."""
    if depth > MAX_DEPTH:
        return
    for item in getattr(msg, "defects", ()):
        name = type(item).__name__
        if name == "CloseBoundaryNotFoundDefect" and "truncated" not in defects:
            defects.append("truncated")
        tag = "mime:" + name.removesuffix("Defect")
        if tag not in defects:
            defects.append(tag)
    payload = msg.get_payload() if msg.is_multipart() else None
    if isinstance(payload, list):
        for sub in payload:
            if isinstance(sub, Message):
                _mime_defects(sub, defects, depth + 1)


def _build(raw: bytes, max_attachment_bytes: int, defects: list[str]) -> ParsedMail:
    size = len(raw)
    if not raw.strip():
        return ParsedMail(size=size, is_empty=True, defects=("empty",))
    data = _strip_envelope(_normalise_newlines(raw))
    try:
        msg = message_from_bytes(data)
    except RecursionError:
        defects.append("nesting-too-deep")
        msg = HeaderParser(policy=policy.compat32).parsestr(
            data.decode("ascii", "surrogateescape"), headersonly=True
        )
    items = [(single_line(str(key)).lower(), str(value)) for key, value in msg.raw_items()]
    fallback = _body_charset(msg) if any(has_surrogates(v) for _, v in items) else None
    headers: list[tuple[str, str]] = []
    raw_values: dict[str, list[str]] = {}
    for name, text in items:
        raw_values.setdefault(name, []).append(text)
        headers.append((name, decode_header_value(text, defects, name, fallback)))
    if not headers:
        defects.append("no-headers")

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

    walker = _Walker(max_attachment_bytes, defects, msg)
    walker.walk(msg, 0, False)
    _mime_defects(msg, defects)
    if (
        "truncated" not in defects
        and not data.endswith((b"\n", b"\r"))
        and b"\n\n" not in data
        and b"\r\n\r\n" not in data
    ):
        defects.append("truncated")  # cut off inside the header block

    # The body: the first non-empty text/plain of the mail itself, else its HTML as text,
    # else text found only inside an embedded message (a forward, a bounced original).
    html = walker.html if walker.html is not None else walker.nested_html
    if walker.text is not None and walker.text.strip():
        text = walker.text
    elif html is not None:
        if len(html) > HTML_TEXT_LIMIT:
            defects.append(f"html-cut:{len(html)}")
            html = html[:HTML_TEXT_LIMIT]
        text = html_to_text(html)
    else:
        text = walker.text or walker.nested_text or ""

    extra: dict[str, str] = {"part-types": " ".join(dict.fromkeys(walker.part_types))}
    if walker.report_type:
        extra["report-type"] = walker.report_type
    if walker.embedded_ids:
        extra["embedded-message-ids"] = " ".join(dict.fromkeys(walker.embedded_ids))
    if walker.report_text:
        extra["report-text"] = "\n".join(walker.report_text)

    subject = first("subject")
    date = first("date")
    try:
        content_type = msg.get_content_type()
    except Exception:
        content_type = "text/plain"
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
        content_type=content_type,
        text=text,
        html=html,
        attachments=tuple(walker.attachments),
        defects=tuple(defects),
        size=size,
        is_empty=not headers,
        extra=extra,
    )


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
