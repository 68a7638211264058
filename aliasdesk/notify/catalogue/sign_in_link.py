"""The link that signs a member, lead or admin in to the dashboard.

Asked for on the sign-in page and mailed to the address typed there, so only someone who
reads that mailbox can use it. The link opens a page with a button; only the button
signs in, so a mail scanner that opens every link on delivery uses nothing up.
"""

from __future__ import annotations

from dataclasses import dataclass

from aliasdesk.notify.catalogue.kind import DeliverySource, NotificationKind, fact_text
from aliasdesk.notify.kinds import MailContext
from aliasdesk.notify.text import friendly_name


@dataclass(frozen=True, kw_only=True)
class SignInLinkContext(MailContext):
    """``sign_in_link`` works once, for ``valid_minutes`` after the mail was asked for."""

    recipient: str
    recipient_name: str
    department_name: str
    sign_in_link: str
    valid_minutes: int


def _sample(department: str | None) -> SignInLinkContext:
    return SignInLinkContext(
        recipient="hanna@example.com",
        recipient_name="Hanna",
        department_name="Human Resources",
        sign_in_link="https://desk.example.com/signin/s1gn-1n-t0ken",
        valid_minutes=15,
    )


def _build(source: DeliverySource) -> SignInLinkContext:
    minutes = source.facts.get("valid_minutes")
    return SignInLinkContext(
        recipient=source.recipient,
        recipient_name=friendly_name(source.recipient),
        department_name=fact_text(source, "department_name") or "aliasdesk",
        sign_in_link=fact_text(source, "sign_in_link"),
        valid_minutes=int(minutes) if isinstance(minutes, int) else 15,
    )


SIGN_IN_LINK = NotificationKind(
    name="sign_in_link",
    context_type=SignInLinkContext,
    audience="admin",
    sample=_sample,
    build=_build,
    label="dashboard sign-in link",
)
