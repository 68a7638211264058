"""A person's reply passed on: a member's answer to the requester side, or the
requester's reply to the owner, with the files it carried."""

from __future__ import annotations

from aliasdesk.notify.catalogue.kind import DeliverySource, FileAttachment, NotificationKind
from aliasdesk.notify.catalogue.samples import sample_ticket
from aliasdesk.notify.kinds import Audience, ReplyRelayContext
from aliasdesk.notify.language import _


def _sample(department: str | None) -> ReplyRelayContext:
    return ReplyRelayContext(
        **{**sample_ticket(department), "status": "open"},
        author="alice@example.com",
        author_name="Alice",
        reply_text="Hi Dave, please fill in the attached form and send it back.",
        attachment_names=("leave-form.pdf",),
    )


def _build(source: DeliverySource) -> ReplyRelayContext:
    facts = source.facts
    values = source.ticket_values()
    audience: Audience = "requester" if source.recipient != values["owner"] else "owner"
    if facts.get("audience") in ("requester", "owner"):
        audience = facts["audience"]
    return ReplyRelayContext(
        **values,
        author=facts.get("author", ""),
        author_name=source.person_name(facts.get("author"), facts.get("author_name") or ""),
        reply_text=facts.get("reply_text", ""),
        attachment_names=tuple(source.relayed_files()[1]),
        audience=audience,
        external=bool(facts.get("external")),
    )


def _files(source: DeliverySource) -> list[FileAttachment]:
    return source.relayed_files()[0]


# The words are a person's, so it is never held back by the cap on automatic answers;
# it is still "auto-generated": aliasdesk composes and sends it on its own initiative,
# and the marking keeps vacation responders from answering it (RFC 3834 loop protection).
REPLY_RELAY = NotificationKind(
    name="reply_relay",
    context_type=ReplyRelayContext,
    audience="requester",
    sample=_sample,
    build=_build,
    label="answer passed on",
    written_by_a_person=True,
    attachments=_files,
    mentioned=lambda: _("a reply from the team"),
)
