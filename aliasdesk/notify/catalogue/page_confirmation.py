"""The check that a reply typed on the ticket page is the requester's own.

Whoever holds a page link sees the page, and a link travels with every forwarded mail.
So what the page would say in the requester's name (a reply, "it is solved") is first
mailed to the requester's own address with a link that confirms it; only that link,
which nobody else receives, adds it to the ticket.
"""

from __future__ import annotations

from dataclasses import dataclass

from aliasdesk.notify.catalogue.kind import DeliverySource, NotificationKind, fact_text
from aliasdesk.notify.catalogue.samples import sample_ticket
from aliasdesk.notify.kinds import TicketMailContext
from aliasdesk.notify.language import _


@dataclass(frozen=True, kw_only=True)
class PageConfirmationContext(TicketMailContext):
    """``action`` is "reply" or "solve"; ``confirm_link`` "" when this process serves no
    pages (the mail then says the page's request cannot be confirmed)."""

    action: str
    reply_text: str = ""
    confirm_link: str = ""

    @property
    def asked_for(self) -> str:
        """What the page asked for, as one sentence in the reader's language."""
        if self.action == "solve":
            text = _(
                "Please confirm: someone using the page of your request %(ref)s asked to "
                "mark it as solved."
            )
        else:
            text = _(
                "Please confirm: someone using the page of your request %(ref)s asked to "
                "add this reply to it:"
            )
        return text % {"ref": self.ref}


def _sample(department: str | None) -> PageConfirmationContext:
    values = sample_ticket(department)
    return PageConfirmationContext(
        **values,
        action="reply",
        reply_text="Also, can I start on 15 June instead?",
        confirm_link=f"{values['page_link']}/confirm/c0nf1rmat10n-n0nce",
    )


def _build(source: DeliverySource) -> PageConfirmationContext:
    values = source.ticket_values()
    nonce = fact_text(source, "nonce")
    link = values["page_link"]
    return PageConfirmationContext(
        **values,
        action=fact_text(source, "action") or "reply",
        reply_text=fact_text(source, "reply_text"),
        confirm_link=f"{link}/confirm/{nonce}" if link and nonce else "",
    )


PAGE_CONFIRMATION = NotificationKind(
    name="page_confirmation",
    context_type=PageConfirmationContext,
    audience="requester",
    sample=_sample,
    build=_build,
    label="confirmation of a page request",
)
