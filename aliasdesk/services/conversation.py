"""Replies to a ticket: who wrote it, what is new, which commands apply, who hears of it.

Only department members whose mail was verified (aliasdesk.inbound.verification) change
a ticket or speak to the requester. The requester and watchers are heard and told which
commands they may not give. Anyone else (a stranger, or "a member" whose mail could not
be verified, which is how a forged From arrives) is kept for the department only, marked
external with their address, never relayed to the requester, and never answered with
anything of the ticket (CONTRACT §5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from aliasdesk.db.models import Ticket, TicketMessage, Watcher
from aliasdesk.db.unit_of_work import work_of
from aliasdesk.domain.commands import Command, CommandBlock, parse_commands, spec_of
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.mail.model import ParsedMail
from aliasdesk.mail.reply import drop_unseen_quotes, extract_reply
from aliasdesk.notify.language import _, cached_catalog, speaking
from aliasdesk.services.command_effects import apply_command
from aliasdesk.services.feedback import try_record_feedback
from aliasdesk.services.languages import mail_locale
from aliasdesk.services.notifications import inbound_cause, queue_notification
from aliasdesk.services.outside_notices import NoticeFacts, tell_member_unverified, tell_stranger
from aliasdesk.services.refusals import MEMBERS_ONLY, UNPROVEN_REQUESTER
from aliasdesk.services.ticket_figures import record_first_response
from aliasdesk.services.tickets import (
    AddedMessage,
    add_event,
    add_message,
    department_sender,
    owner_side,
)
from aliasdesk.services.transitions import CommandResult, change_status, requester_side
from aliasdesk.settings.shipped import template_dir as shipped_templates


@dataclass
class ReplyOutcome:
    role: str
    applied: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    reason: str = ""


@dataclass(frozen=True)
class _Reply:
    """One reply being worked on: the ticket, the mail, and where it came from."""

    session: Session
    ticket: Ticket
    mail: ParsedMail
    config: RoutingConfig
    inbound_id: int | None
    now: datetime
    snippet_dir: Path | None = None

    @property
    def sender(self) -> str:
        return self.mail.from_.address if self.mail.from_ else ""

    @property
    def cause(self) -> str:
        return inbound_cause(self.inbound_id, self.mail.message_id)

    @property
    def has_files(self) -> bool:
        return any(not a.inline for a in self.mail.attachments)


def role_of(
    session: Session, ticket: Ticket, sender: str, config: RoutingConfig, *, verified: bool
) -> str:
    """Who the sender is to this ticket. A member whose mail could not be verified is not
    acting as a member (anyone can write their address), but may still be the requester."""
    member = config.is_member(sender, ticket.department)
    if member and verified:
        return "member"
    if sender == ticket.requester:
        return "requester"
    if session.get(Watcher, (ticket.id, sender)) is not None:
        return "watcher"
    return "unverified_member" if member else "stranger"


def apply_reply(
    session: Session,
    ticket: Ticket,
    mail: ParsedMail,
    *,
    config: RoutingConfig,
    inbound_id: int | None,
    now: datetime,
    verified: bool = False,
    requester_verified: bool = False,
    require_authentication: bool = False,
    snippet_dir: Path | None = None,
    template_dir: Path | None = None,
) -> ReplyOutcome:
    """Add a reply to ``ticket`` and carry out what it asks for, if its sender may.

    ``verified``: the sender's From was shown to be theirs (aliasdesk.inbound.verification);
    it matters for department members, whose mail changes a ticket. ``requester_verified``:
    the same for the requester, whose one settling command (``#resolve``) needs it.
    """
    reply = _Reply(session, ticket, mail, config, inbound_id, now, snippet_dir)
    role = role_of(session, ticket, reply.sender, config, verified=verified)
    if role == "requester" and try_record_feedback(
        session, ticket, mail, config=config, inbound_id=inbound_id, now=now
    ):
        return ReplyOutcome(role, reason=f"feedback {ticket.rating}/5 on {ticket.ref}")
    # A reply that is only a forward or a signature has no "new text": keep the whole body.
    new_text = extract_reply(mail.text) or mail.text.strip()
    block = parse_commands(new_text)
    outcome = ReplyOutcome(role)
    if role in {"member", "requester", "watcher"}:
        # What became of each command is written in the language the sender's answer
        # to their commands is read in, chosen as that mail's own language is.
        locale = mail_locale(session, config, ticket, reply.sender, "member")
        words = cached_catalog(template_dir or shipped_templates(), locale.language)
        with speaking(words, locale):
            _commands_of_conversation(reply, new_text, block, outcome, requester_verified)
    else:
        outcome.refused += [f"{c}: not applied" for c in block.commands]
        _outside_reply(reply, new_text, block, outcome, internal=True)
        notice = NoticeFacts(ticket, mail, config, reply.cause, now)
        if role == "unverified_member":
            tell_member_unverified(session, notice, outcome.refused, require_authentication)
        elif block.commands:
            tell_stranger(session, notice, [str(c) for c in block.commands])
    outcome.reason = (
        outcome.reason or f"reply from the {outcome.role.replace('_', ' ')} on {ticket.ref}"
    )
    return outcome


def _commands_of_conversation(
    reply: _Reply, new_text: str, block: CommandBlock, outcome: ReplyOutcome, proven: bool
) -> None:
    """A reply from someone in the conversation: a member's, the requester's or a watcher's."""
    if outcome.role == "member":
        _member_reply(reply, block, outcome)
        if outcome.refused:
            _tell_refused(reply, outcome)
    else:
        _requester_reply(reply, new_text, block, outcome, proven=proven)


def _member_reply(reply: _Reply, block: CommandBlock, outcome: ReplyOutcome) -> None:
    """Store and relay the text (kept internal under #note), then apply the commands.

    The relay is queued first so the requester reads the answer before the status mail
    (or feedback request) the commands cause.
    """
    ticket, sender = reply.ticket, reply.sender
    internal = block.is_note
    answered = False
    first = [c for c in block.commands if (spec := spec_of(c)) is not None and spec.applies_first]
    inserted = [_apply(reply, command, outcome, "member").text for command in first]
    own = block.remaining_text
    if own and not internal:
        # Quoted lines kept for an inline answer go out only if the requester saw them.
        own = drop_unseen_quotes(own, _seen_by_requester(reply.session, ticket))
    text = "\n\n".join(part for part in (*inserted, own) if part)
    if text or reply.has_files:
        message = _store(reply, text, internal=internal)
        kind = "note" if internal else "reply"
        detail = "internal note" if internal else "reply to the requester"
        add_event(reply.session, ticket, kind, sender, detail, reply.now)
        if not internal:
            _relay(reply, message, requester_side(reply.session, ticket), "requester")
            answered = True
        if ticket.owner and ticket.owner != sender:
            _relay(reply, message, [ticket.owner], "owner")
    for command in block.commands:
        if command not in first:
            _apply(reply, command, outcome, "member")
    if not (text or reply.has_files or outcome.applied):
        return  # only refused commands: nothing changes, the sender is told why
    if ticket.status == "new":
        # The first member action opens the ticket; the reply itself tells the requester.
        _open(reply, f"first action by {sender}", quiet=True)
    if answered:  # a public reply, not the status mail a bare command causes
        record_first_response(ticket, reply.config, reply.now)


def _seen_by_requester(session: Session, ticket: Ticket) -> str:
    """The text of the ticket's mail that is not internal: the requester's own and the
    members' answers, what the requester read. Outgoing copies are left out: one sent to
    the owner alone (a colleague's note, a stranger's mail passed on) was never the
    requester's to read, and those the requester got repeat an answer already here.

    Read once per transaction and ticket: a batch with many member replies to one ticket
    would otherwise read its whole public conversation again for each of them
    (``add_message`` keeps the list up to date)."""
    seen = work_of(session).known.requester_seen
    if ticket.id not in seen:
        seen[ticket.id] = list(
            session.scalars(
                select(TicketMessage.text)
                .where(
                    TicketMessage.ticket_id == ticket.id,
                    TicketMessage.internal.is_(False),
                    TicketMessage.direction == "in",
                )
                .order_by(TicketMessage.id)
            )
        )
    return "\n".join(seen[ticket.id])


_SETTLING = frozenset({"resolve"})
"""Commands a requester may give that change the ticket (``#lang`` changes only wording)."""


def _requester_reply(
    reply: _Reply, new_text: str, block: CommandBlock, outcome: ReplyOutcome, *, proven: bool
) -> None:
    """The requester's or a watcher's mail: added, with the few commands they may give
    carried out (a settling one only when the mail is shown to be the requester's)."""
    role = outcome.role
    allowed = [c for c in block.commands if _may_give(c, role)]
    why = _(MEMBERS_ONLY[role]) % {"department": reply.ticket.department}
    outcome.refused += [f"{c}: {why}" for c in block.commands if c not in allowed]
    if not proven:
        unproven = _(UNPROVEN_REQUESTER)
        outcome.refused += [f"{c}: {unproven}" for c in allowed if c.name in _SETTLING]
        allowed = [c for c in allowed if c.name not in _SETTLING]
    _outside_reply(reply, new_text, block, outcome, internal=False)
    for command in allowed:
        _apply(reply, command, outcome, role)
    if outcome.refused:
        _tell_refused(reply, outcome)


def _may_give(command: Command, role: str) -> bool:
    """Whether someone in ``role`` may give this (valid, declared) command."""
    spec = spec_of(command)
    return command.error is None and spec is not None and role in spec.roles


def _apply(reply: _Reply, command: Command, outcome: ReplyOutcome, role: str) -> CommandResult:
    """Carry out one command of the reply and note the result on ``outcome``."""
    result = apply_command(
        reply.session,
        reply.ticket,
        command,
        actor=reply.sender,
        config=reply.config,
        cause=reply.cause,
        now=reply.now,
        actor_name=reply.mail.from_.name if reply.mail.from_ else "",
        role=role,
        snippet_dir=reply.snippet_dir,
    )
    (outcome.applied if result.applied else outcome.refused).append(result.message)
    return result


def _outside_reply(
    reply: _Reply, text: str, block: CommandBlock, outcome: ReplyOutcome, *, internal: bool
) -> None:
    """Mail from anyone but a (verified) member: stored, shown to the owner, never applied.

    The command lines stay in the stored text, so the owner sees what was asked for.
    """
    ticket, sender = reply.ticket, reply.sender
    # Only the requester's own words are theirs to see again (their page, the quotes a
    # member may keep): a watcher's mail goes to the department only, as a stranger's does.
    message = _store(reply, text, internal=internal or outcome.role != "requester")
    if internal:
        who = (
            "could not be verified as the member"
            if outcome.role == "unverified_member"
            else ("neither the requester, a watcher nor a verified member")
        )
        detail = f"external mail from {sender} ({who}), kept for the department only"
    else:
        detail = f"reply from the {outcome.role}"
    add_event(reply.session, ticket, "note" if internal else "reply", sender, detail, reply.now)
    substantive = bool(block.remaining_text) or reply.has_files
    # "#resolve, solved, thanks" from the requester resolves: the one command they may
    # give decides the status itself, so their words must not reopen the ticket first.
    settles = any(_may_give(c, outcome.role) for c in block.commands)
    if (
        outcome.role == "requester"
        and substantive
        and not settles
        and ticket.status in {"resolved", "pending"}
    ):
        why = (
            "reopened by the requester's reply"
            if ticket.status == "resolved"
            else "the requester answered"
        )
        _open(reply, why)
    _relay(reply, message, owner_side(reply.ticket, reply.config), "owner", external=internal)


def _store(reply: _Reply, text: str, *, internal: bool) -> AddedMessage:
    """The reply's text and files, added to its ticket."""
    return add_message(
        reply.session,
        reply.ticket,
        reply.mail,
        text=text,
        internal=internal,
        inbound_id=reply.inbound_id,
        now=reply.now,
    )


def _open(reply: _Reply, why: str, *, quiet: bool = False) -> None:
    """Open the reply's ticket on its sender's word, for ``why``."""
    change_status(
        reply.session,
        reply.ticket,
        "open",
        actor=reply.sender,
        config=reply.config,
        cause=reply.cause,
        now=reply.now,
        quiet=quiet,
        why=why,
    )


def _relay(
    reply: _Reply,
    message: AddedMessage,
    recipients: list[str],
    audience: str,
    *,
    external: bool = False,
) -> None:
    """Pass the reply on; the files travel along (loaded from the stored message).

    Mail from anyone but a verified member reaches the department with its sender's
    address in full, marked ``external`` when it is from outside the conversation, and
    without files that could run when opened (they stay in the ticket).
    """
    ticket = reply.ticket
    sender = department_sender(ticket, reply.config)
    context = {
        "author": reply.sender,
        "author_name": reply.mail.from_.name if reply.mail.from_ else "",
        "reply_text": message.text[:20000],
        "attachments": [a.filename for a in reply.mail.attachments if not a.inline][:20],
        "ticket_message_id": message.id,
        "audience": audience,
        "inbound_message_id": reply.mail.message_id,
        "external": external,
        "withhold_active": audience == "owner",
    }
    for recipient in dict.fromkeys(recipients):
        if recipient and recipient != reply.sender:
            queue_notification(
                reply.session,
                kind="reply_relay",
                recipient=recipient,
                sender=sender,
                cause=reply.cause,
                now=reply.now,
                ticket=ticket,
                context=context,
                domain=_domain(reply.config),
                outside=not reply.config.is_staff(recipient),
            )


def _tell_refused(reply: _Reply, outcome: ReplyOutcome) -> None:
    """The requester or a watcher learns which commands were not applied, and why."""
    queue_notification(
        reply.session,
        kind="command_result",
        recipient=reply.sender,
        sender=department_sender(reply.ticket, reply.config),
        cause=reply.cause,
        now=reply.now,
        ticket=reply.ticket,
        context={"applied": outcome.applied, "refused": outcome.refused},
        domain=_domain(reply.config),
        outside=not reply.config.is_staff(reply.sender),
    )


def _domain(config: RoutingConfig) -> str:
    return config.domains[0] if config.domains else "aliasdesk.invalid"
