"""Stage 1: bytes to ParsedMail. Mail with nothing to read is quarantined, not dropped.

A mail without a usable sender address is *not* settled here: bounces often come from
"<>" or a bare "MAILER-DAEMON", and those must still reach the dedupe and loop stages so
a repeat is logged as a duplicate and a bounce as ``ignored`` (CONTRACT §5). The loop
stage quarantines human mail that has no sender (``has_sender_address``).
"""

from __future__ import annotations

from aliasdesk.inbound.context import InboundContext
from aliasdesk.mail.model import ParsedMail
from aliasdesk.mail.parse import parse_mail

NAME = "parse"
NO_SENDER = "no sender address: the From header is missing or has no address"


def has_sender_address(mail: ParsedMail) -> bool:
    """True when From holds an address with both a local part and a domain."""
    if mail.from_ is None:
        return False
    local, at, domain = mail.from_.address.rpartition("@")
    return bool(at and local and domain)


def run(ctx: InboundContext) -> None:
    """Parse ``ctx.raw``, unless the caller parsed it already (outside its transaction,
    services/intake.py) with the same limits: then that result is read."""
    mail = ctx.parsed or parse_mail(ctx.raw, max_attachment_bytes=ctx.settings.max_attachment_bytes)
    ctx.parsed = mail
    defects = ", ".join(mail.defects[:8]) or "none"
    ctx.note(NAME, f"{mail.size} bytes, {mail.content_type}, defects: {defects}")
    if mail.is_empty or not ctx.raw.strip():
        ctx.finish("quarantined", "empty mail: no headers and no body")
    elif not has_sender_address(mail):
        ctx.note(NAME, NO_SENDER)
