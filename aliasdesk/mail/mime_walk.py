"""The walk over a parsed MIME tree: which part is the body, which are files, what a
delivery report says, and what is wrong with the structure (CONTRACT §5: bad input gets a
stated defect, never an exception). ``aliasdesk.mail.parse`` builds the mail from it.
"""

from __future__ import annotations

import re
from email import policy
from email.message import Message

from aliasdesk.mail.addresses import (
    decode_bytes,
    decode_header_value,
    parse_message_id,
    single_line,
)
from aliasdesk.mail.filenames import part_filename, safe_filename
from aliasdesk.mail.mime_tree import decoded_payload
from aliasdesk.mail.model import Attachment

MAX_DEPTH = 20
_MSGID_LINE = re.compile(rb"^message-id:[ \t]*(<[^<>\r\n]+>)", re.IGNORECASE | re.MULTILINE)
_KNOWN_CTE = frozenset(
    {"7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "uuencode", "uue"}
)
_REPORT_TYPES = frozenset(
    {"message/delivery-status", "message/disposition-notification", "message/feedback-report"}
)


class PartWalker:
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
            self._message_charset.append(body_charset(self.root))
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


def _raw_header(msg: Message, name: str) -> str | None:
    """First raw value of a header, read without the policy's parsing (which may raise)."""
    for key, value in msg.raw_items():
        if key.lower() == name:
            return str(value)
    return None


def mime_defects(msg: Message, defects: list[str], depth: int = 0) -> None:
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
                mime_defects(sub, defects, depth + 1)


def body_charset(msg: Message) -> str | None:
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
