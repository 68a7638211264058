"""The assignment: the new owner gets the ticket, the handover note, the request's files
and the reply commands they can use."""

from __future__ import annotations

from aliasdesk.notify.catalogue.kind import DeliverySource, FileAttachment, NotificationKind
from aliasdesk.notify.catalogue.samples import sample_ticket_to_owner
from aliasdesk.notify.kinds import AssignmentContext, RequestFile


def _sample(department: str | None) -> AssignmentContext:
    return AssignmentContext(
        **sample_ticket_to_owner(department),
        assigned_by=None,
        files=(
            RequestFile("leave-request.pdf", 48_000),
            RequestFile("macro.xlsm", 20_000, "not attached: it could run code when opened"),
        ),
    )


def _build(source: DeliverySource) -> AssignmentContext:
    facts = source.facts
    return AssignmentContext(
        **source.ticket_values(),
        assigned_by=source.assigner_name(
            facts.get("assigned_by"), facts.get("assigned_by_name") or ""
        ),
        handover_note=str(facts.get("note") or ""),
        files=source.request_files(),
    )


def _files(source: DeliverySource) -> list[FileAttachment]:
    return source.attached_request_files()


ASSIGNMENT = NotificationKind(
    name="assignment",
    context_type=AssignmentContext,
    audience="member",
    sample=_sample,
    build=_build,
    attachments=_files,
)
