"""Why a command changed nothing, as its sender reads it: texts for the mail catalog,
translated where the answer to the commands is written (in the sender's language)."""

from __future__ import annotations

from aliasdesk.notify.language import N_

UNPROVEN_REQUESTER = N_(
    "this mail does not answer one of our mails to you, so it could have been written by "
    "anyone using your address, and the request was left open; reply to one of our mails "
    "about it, or use the button on its page"
)
MEMBERS_ONLY = {
    "requester": N_(
        "only members of %(department)s can do this; this mail came from the requester, "
        "so nothing was changed"
    ),
    "watcher": N_(
        "only members of %(department)s can do this; this mail came from someone "
        "copied on the ticket, so nothing was changed"
    ),
}
"""Why a command the requester or a watcher may not give changed nothing."""

NOT_FOR_ROLE = {
    "member": N_("not for a member; nothing was changed"),
    "requester": N_("not for the requester; nothing was changed"),
    "watcher": N_("not for someone copied on the ticket; nothing was changed"),
}
"""Why a command its declaration keeps from the sender's role changed nothing."""
