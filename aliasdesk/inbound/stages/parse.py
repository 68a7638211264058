"""Stage 1: bytes to ParsedMail. Mail with nothing to read is quarantined, not dropped."""

from __future__ import annotations

from aliasdesk.inbound.context import InboundContext
from aliasdesk.mail.parse import parse_mail

NAME = "parse"


def run(ctx: InboundContext) -> None:
    mail = parse_mail(ctx.raw, max_attachment_bytes=ctx.settings.max_attachment_bytes)
    ctx.parsed = mail
    defects = ", ".join(mail.defects[:8]) or "none"
    ctx.note(NAME, f"{mail.size} bytes, {mail.content_type}, defects: {defects}")
    if mail.is_empty or not ctx.raw.strip():
        ctx.finish("quarantined", "empty mail: no headers and no body")
    elif mail.from_ is None or not mail.from_.address or "@" not in mail.from_.address:
        ctx.finish("quarantined", "no sender address: the From header is missing or has no address")
