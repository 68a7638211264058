"""How the helpdesk words what changes with the facts: what the requester can expect
after a status change, who a pending ticket waits on, how big a file is.

Kept apart from the contexts (aliasdesk.notify.kinds) because these are sentences people
read, tuned on their own, while the contexts are the contract with the templates.
"""

from __future__ import annotations

NEXT_STEP_BY_STATUS: dict[str, str] = {
    "new": "Someone from the team will pick your request up shortly.",
    "open": "We are working on it and will write to you here.",
    "pending": (
        "To go on, we need a little more from you. Just reply to this mail with it and "
        "we carry on straight away."
    ),
    "resolved": (
        "We believe this is done. If it is not, reply to this mail and the ticket opens again."
    ),
    "closed": (
        "This ticket is closed. Write to the department again (a new mail) if you need "
        "anything else."
    ),
}

WAITING_ON_WORDS: dict[str, str] = {
    "vendor": "a supplier",
    "supplier": "a supplier",
    "third-party": "a third party",
    "third party": "a third party",
    "external": "a third party",
}
"""``#status pending <word>`` shorthands and how the requester is told about them."""

REQUESTER_WORDS = frozenset({"requester", "customer", "you"})
"""Words after ``#status pending`` that mean the plain case: we wait for the requester."""


def waiting_on_text(waiting_on: str) -> str:
    """Who a pending ticket waits for, as the requester reads it; "" for the requester."""
    words = " ".join(waiting_on.split())
    if words.lower() in REQUESTER_WORDS:
        return ""
    return WAITING_ON_WORDS.get(words.lower(), words)


def next_step_for(status: str, waiting_on: str = "") -> str:
    """What the requester can expect after a status change, in the helpdesk's words.

    A ticket pending on someone else (a supplier) must not read as if the requester were
    holding it up: they are told who we wait on and that nothing is needed from them.
    """
    waiting = waiting_on_text(waiting_on) if status == "pending" else ""
    if waiting:
        return (
            f"We are waiting on {waiting}. There is nothing you need to do; "
            "we will write to you as soon as we hear back."
        )
    return NEXT_STEP_BY_STATUS.get(status, "Reply to this mail if you have anything to add.")


def size_text(size: int) -> str:
    """'830 KB', '12.4 MB': how big a file is, as people say it."""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f} MB"
