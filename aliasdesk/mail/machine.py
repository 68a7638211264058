"""Is this mail written by a machine? The verdict that keeps aliasdesk out of mail loops.

Machine mail never opens a ticket and is never answered (CONTRACT §5, RFC 3834 §2). One
header is not enough to spot it: many bounces carry no Auto-Submitted, come from "<>" or
MAILER-DAEMON with varied subjects, or are plain text without multipart/report. So the
rules run from strong, standardised evidence to weaker heuristics, and the heuristics
(subjects, body phrases) only count when a second weak signal agrees, so that ordinary
mail that merely *mentions* a bounce stays human.

Decision on ``X-Auto-Response-Suppress`` (a Microsoft header): it asks *recipients* not to
auto-answer; Exchange puts it on its own automatic mail, but Outlook and many scripts also
put it on mail people write (meeting requests, tools). It is therefore only a supporting
signal, never a verdict on its own.
"""

from __future__ import annotations

import re

from aliasdesk.mail.addresses import normalise_address, parse_message_ids
from aliasdesk.mail.model import MachineVerdict, ParsedMail

__all__ = ["KINDS", "MachineVerdict", "machine_verdict", "mail_signals"]

KINDS = (
    "auto-reply",
    "bounce",
    "delivery-report",
    "read-receipt",
    "abuse-report",
    "bulk",
    "list",
    "auto-generated",
    "own-alias",
    "loop-marker",
)


HUMAN = MachineVerdict(None, "no machine-mail signal")

# Local parts of mail-system senders (RFC 5321 §4.5.1 postmaster; MAILER-DAEMON by tradition).
# Compared with separators removed, so "post_master" and "MAILER-DAEMON" both match.
_DAEMON_LOCALS = frozenset({"mailerdaemon", "postmaster", "maildaemon"})
_SEPARATORS = re.compile(r"[-_.]")
_DAEMON_NAME = re.compile(r"mailer[- ]?daemon|mail delivery (sub)?system|postmaster", re.I)

# Subjects of non-delivery reports, as major MTAs and providers write them (bounded list).
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|return(ed)? to sender|delivery (status )?notification|"
    r"delivery (has )?failed|failure notice|mail delivery|delivery failure|"
    r"non[- ]?delivery|could not be delivered|delivery report|nondeliverable|"
    r"warning: could not send|delayed mail|delivery delayed|message not delivered|"
    r"mail system error|unzustellbar|nicht zustellbar|fehlgeschlagen|"
    r"non remis|non recapitabile|no entregado|onbestelbaar|配信|エラー|"
    r"dsn|bounce|mail failure|undelivered",
    re.I,
)
# Auto-reply subjects: only as a prefix ("Out of Office: Re: ..."), where clients put them.
_AUTOREPLY_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[- ]?(reply|response)|"
    r"autoreply|vacation|abwesenheitsnotiz|automatische antwort|abwesend|"
    r"réponse automatique|absence|autosvar|automatisch antwoord|afwezig|"
    r"risposta automatica|respuesta automática|fuera de la oficina|poza biurem|"
    r"automaattinen vastaus|out of office autoreply)\b",
    re.I,
)
# Lines that only delivery reports contain (RFC 3464 §2 fields and MTA boilerplate).
_BOUNCE_BODY = re.compile(
    r"^\s*(final-recipient|original-recipient|diagnostic-code|action|remote-mta|"
    r"reporting-mta)\s*:|"
    r"\b[45]\.\d\.\d{1,3}\b|\b5[05][0-9][ -]|"
    r"could not be delivered|undeliverable|permanent(ly)? (error|fatal)|"
    r"delivery (to the following )?(recipients?|addresses) failed|"
    r"returned to (the )?sender|user unknown|mailbox (is )?(full|unavailable)|"
    r"no such (user|recipient)|following address(es)? failed|delivery has failed|"
    r"message (was|could) not|retry time|not yet been delivered",
    re.I | re.M,
)
_ACTION = re.compile(r"^\s*action\s*:\s*([a-z]+)", re.I | re.M)
_MSGID_IN_TEXT = re.compile(r"message-id\s*:\s*(<[^<>\s]+>)", re.I)
_REPORT_KINDS = {
    "disposition-notification": "read-receipt",
    "feedback-report": "abuse-report",
}
# Amazon SES delivers bounce/complaint notices as JSON in plain mail from an SNS topic.
# (sometimes as JSON quoted inside JSON, hence the optional backslashes).
_SES_NOTICE = re.compile(r'notificationType\\?"\s*:\s*\\?"(Bounce|Complaint|Delivery)')
_SES_KINDS = {"Bounce": "bounce", "Complaint": "abuse-report", "Delivery": "delivery-report"}
# Provider complaint loops (Hotmail JMRP) that wrap the reported mail without RFC 5965 parts.
_COMPLAINT_SUBJECT = re.compile(r"complaint about message from|abuse report|spam complaint", re.I)
# RFC 2369 / RFC 2919 list headers, plus those of older list managers (ezmlm, fml).
_LIST_HEADERS = (
    "list-id",
    "list-post",
    "list-help",
    "list-subscribe",
    "list-owner",
    "list-archive",
    "mailing-list",
    "x-mailing-list",
    "x-mlserver",
    "x-ml-name",
)
_PRECEDENCE = {"bulk": "bulk", "junk": "bulk", "list": "list", "auto_reply": "auto-reply"}


def _local_part(address: str) -> str:
    addr = normalise_address(address)
    return _SEPARATORS.sub("", addr.rpartition("@")[0] if "@" in addr else addr)


def _is_daemon_sender(mail: ParsedMail) -> bool:
    raw_from = mail.header("from") or ""
    if mail.from_ is not None and _local_part(mail.from_.address) in _DAEMON_LOCALS:
        return True
    # "MAILER-DAEMON <>" parses to no address at all; look at what is written.
    return bool(_DAEMON_NAME.search(raw_from)) and (mail.from_ is None or "<>" in raw_from)


def _null_return_path(mail: ParsedMail) -> bool:
    """RFC 5321 §4.5.5: notifications are sent with an empty reverse-path, seen as "<>"."""
    values = mail.header_values("return-path")
    return any(v.replace(" ", "") in ("<>", "") for v in values) if values else False


def _dsn_kind(mail: ParsedMail) -> str:
    """bounce when any recipient failed (or no Action says otherwise), else delivery-report."""
    actions = {a.lower() for a in _ACTION.findall(mail.extra.get("report-text", ""))}
    if actions and "failed" not in actions:
        return "delivery-report"
    return "bounce"


def _bounced_ids(mail: ParsedMail) -> tuple[str, ...]:
    """Message-IDs of the original mail inside a report, to find the ticket it belongs to."""
    embedded = mail.extra.get("embedded-message-ids", "")
    found = list(parse_message_ids(embedded))
    if not found:
        found = [m for m in _MSGID_IN_TEXT.findall(mail.text) if m != mail.message_id]
    own = mail.message_id
    return tuple(dict.fromkeys(m for m in found if m != own))


def _verdict(kind: str, reason: str, mail: ParsedMail) -> MachineVerdict:
    ids = _bounced_ids(mail) if kind in ("bounce", "delivery-report") else ()
    return MachineVerdict(kind, reason, ids)


def _structural(mail: ParsedMail) -> MachineVerdict | None:
    """Reports recognised by their MIME structure (RFC 6522, RFC 3464, RFC 3798, RFC 5965)."""
    types = set(mail.extra.get("part-types", "").split())
    report_type = mail.extra.get("report-type", "")
    if "message/feedback-report" in types or report_type == "feedback-report":
        return _verdict("abuse-report", "feedback report (RFC 5965)", mail)
    if "message/disposition-notification" in types or report_type == "disposition-notification":
        return _verdict("read-receipt", "disposition notification (RFC 3798)", mail)
    if "message/delivery-status" in types or report_type == "delivery-status":
        kind = _dsn_kind(mail)
        return _verdict(kind, "delivery status notification (RFC 3464)", mail)
    if mail.content_type == "multipart/report" or "multipart/report" in types:
        kind = _REPORT_KINDS.get(report_type, "bounce")
        return _verdict(kind, f"multipart/report ({report_type or 'no report-type'})", mail)
    return None


def _headers(mail: ParsedMail) -> MachineVerdict | None:
    """RFC 3834 and the de-facto headers of auto-responders and mass mailers."""
    for value in mail.header_values("auto-submitted"):
        token = value.split(";", 1)[0].strip().lower()
        if token and token != "no":
            kind = "auto-reply" if token == "auto-replied" else "auto-generated"
            return _verdict(kind, f"Auto-Submitted: {token} (RFC 3834)", mail)
    for name in ("x-autoreply", "x-autorespond", "x-auto-reply", "x-autoresponder"):
        flag = mail.header(name)
        if flag is not None and flag.strip().lower() not in ("no", "false", "0"):
            return _verdict("auto-reply", f"{name} header", mail)
    for precedence in mail.header_values("precedence"):
        bulk_kind = _PRECEDENCE.get(precedence.strip().lower())
        if bulk_kind is not None:
            return _verdict(bulk_kind, f"Precedence: {precedence.strip().lower()}", mail)
    for name in _LIST_HEADERS:
        if mail.header(name) is not None:
            return _verdict("list", f"{name} header (mailing list, RFC 2369/2919)", mail)
    if mail.header("list-unsubscribe") is not None:
        return _verdict("bulk", "List-Unsubscribe (RFC 2369)", mail)
    return None


def _bounce_heuristic(mail: ParsedMail) -> MachineVerdict | None:
    """Bounces without standard markers: two weak signals must agree.

    Runs before the header rules so that a bounce carrying Precedence or Auto-Submitted is
    still reported as a bounce (the gateway records it on the ticket whose mail failed).
    """
    daemon = _is_daemon_sender(mail)
    null_path = _null_return_path(mail)
    bounce_subject = bool(_BOUNCE_SUBJECT.search(mail.subject))
    types = set(mail.extra.get("part-types", "").split())
    carries_original = bool({"message/rfc822", "text/rfc822-headers"} & types)
    ses = _SES_NOTICE.search(mail.text[:20000])
    if ses is not None:
        return _verdict(_SES_KINDS[ses.group(1)], "Amazon SES notification", mail)
    if carries_original and _COMPLAINT_SUBJECT.search(mail.subject):
        return _verdict("abuse-report", "complaint subject wrapping the reported mail", mail)
    if daemon:
        return _verdict("bounce", "sent by a mail system (MAILER-DAEMON/postmaster)", mail)
    if not (bounce_subject or null_path):
        return None  # both rules below need one of these: spare the body search
    bounce_body = bool(_BOUNCE_BODY.search(mail.text[:20000]))
    if bounce_subject and (null_path or carries_original or bounce_body):
        return _verdict("bounce", "non-delivery subject with delivery-report content", mail)
    if (
        null_path
        and (carries_original or bounce_body)
        and not _AUTOREPLY_SUBJECT.search(mail.subject)
    ):
        return _verdict("bounce", "empty Return-Path <> with delivery-report content", mail)
    return None


def _autoreply_subject(mail: ParsedMail) -> MachineVerdict | None:
    """An auto-reply subject prefix counts only with a second sign of automatic mail."""
    if _AUTOREPLY_SUBJECT.search(mail.subject):
        weak = (
            _null_return_path(mail)
            or mail.header("x-auto-response-suppress") is not None
            or bool(mail.in_reply_to or mail.references)
        )
        if weak:
            return _verdict("auto-reply", "auto-reply subject with an automatic-mail signal", mail)
    return None


def machine_verdict(
    mail: ParsedMail,
    *,
    own_addresses: frozenset[str] = frozenset(),
    loop_marker_header: str = "x-aliasdesk-loop",
    loop_marker_value: str | None = None,
) -> MachineVerdict:
    """Decide whether ``mail`` was written by a machine, and which kind.

    ``own_addresses`` are aliasdesk's own aliases (compared lower-cased): mail from them is
    our own mail coming back. The loop marker is the header aliasdesk puts on what it sends;
    with ``loop_marker_value`` None any value counts.
    """
    marker_values = mail.header_values(loop_marker_header.lower())
    if marker_values and (
        loop_marker_value is None or any(v.strip() == loop_marker_value for v in marker_values)
    ):
        return MachineVerdict("loop-marker", f"carries our loop marker {loop_marker_header}")
    own = {normalise_address(a) for a in own_addresses}
    if mail.from_ is not None and mail.from_.address in own:
        return MachineVerdict("own-alias", f"sent from our own address {mail.from_.address}")
    return mail.signals if mail.signals is not None else mail_signals(mail)


def mail_signals(mail: ParsedMail) -> MachineVerdict:
    """What the mail says of itself: the first of the structural, bounce, header and
    subject checks that finds machine mail, else ``HUMAN``. It needs no rules, so
    ``aliasdesk import``'s helper process reads it with the parse (``ParsedMail.signals``)
    and the importer, the busier of the two, does not."""
    for stage in (_structural, _bounce_heuristic, _headers, _autoreply_subject):
        verdict = stage(mail)
        if verdict is not None:
            return verdict
    return HUMAN
