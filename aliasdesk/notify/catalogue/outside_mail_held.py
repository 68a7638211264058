"""The admins' alert that automatic mail to outside addresses passed the limit a minute
and further such mail is held (a loop or a flood, which only an admin can stop)."""

from __future__ import annotations

from aliasdesk.notify.catalogue.kind import (
    DeliverySource,
    NotificationKind,
    fact_moment,
    fact_texts,
)
from aliasdesk.notify.catalogue.samples import SAMPLE_CREATED
from aliasdesk.notify.kinds import OutsideMailHeldContext


def _sample(department: str | None) -> OutsideMailHeldContext:
    return OutsideMailHeldContext(
        per_minute=120,
        opened_at=SAMPLE_CREATED,
        held=37,
        recipients=("dave@example.net", "noreply-robot@partner.example.net"),
    )


def _build(source: DeliverySource) -> OutsideMailHeldContext:
    return OutsideMailHeldContext(
        per_minute=int(source.facts.get("per_minute", 0)),
        opened_at=fact_moment(source.facts.get("opened_at")),
        held=int(source.facts.get("held", 0)),
        recipients=fact_texts(source, "recipients"),
    )


OUTSIDE_MAIL_HELD = NotificationKind(
    name="outside_mail_held",
    context_type=OutsideMailHeldContext,
    audience="admin",
    sample=_sample,
    build=_build,
)
