"""How the helpdesk words what changes with the facts: what the requester can expect
after a status change, who a pending ticket waits on, how big a file is.

Kept apart from the contexts (aliasdesk.notify.kinds) because these are sentences people
read, tuned on their own, while the contexts are the contract with the templates. Each
sentence is whole, with named placeholders, so a translator can reorder it; ``_`` reads
the catalog of the mail being rendered (see ``aliasdesk.notify.language``).
"""

from __future__ import annotations

from babel.numbers import format_decimal

from aliasdesk.notify.language import _, current_locale

WAITING_ON_WORDS: dict[str, str] = {
    "vendor": "supplier",
    "supplier": "supplier",
    "third-party": "third party",
    "third party": "third party",
    "external": "third party",
}
"""``#status pending <word>`` shorthands: which of the two sentences below says whom we
wait on. Anything else is taken as written ("the landlord")."""

REQUESTER_WORDS = frozenset({"requester", "customer", "you"})
"""Words after ``#status pending`` that mean the plain case: we wait for the requester."""


def next_step_text(status: str) -> str:
    """What the requester can expect after a change to ``status``."""
    texts = {
        "new": _("Someone from the team will pick it up shortly."),
        "open": _("We'll keep you posted here; there is nothing you need to do for now."),
        "pending": _(
            "To go on we need a little more from you. Just reply to this mail and we'll "
            "carry on straight away."
        ),
        "resolved": _("If anything is still not right, reply to this mail and we'll reopen it."),
        "closed": _("If you need anything else, just write to us again in a new mail."),
    }
    return texts.get(status, _("Reply to this mail if you have anything to add."))


def waiting_on_text(waiting_on: str) -> str:
    """Who a pending ticket waits for, as the requester reads it; "" for the requester."""
    words = " ".join(waiting_on.split())
    if words.lower() in REQUESTER_WORDS:
        return ""
    shorthand = WAITING_ON_WORDS.get(words.lower())
    if shorthand == "supplier":
        return _("a supplier")
    if shorthand == "third party":
        return _("a third party")
    return words


def next_step_for(status: str, waiting_on: str = "") -> str:
    """What the requester can expect after a status change, in the helpdesk's words.

    A ticket pending on someone else (a supplier) must not read as if the requester were
    holding it up: they are told who we wait on and that nothing is needed from them.
    """
    waiting = waiting_on_text(waiting_on) if status == "pending" else ""
    if waiting:
        return _(
            "We are waiting on %(whom)s. There is nothing you need to do; we'll write to "
            "you as soon as we hear back."
        ) % {"whom": waiting}
    return next_step_text(status)


def headline_text(old_status: str, new_status: str, mine: bool) -> str:
    """What happened to a ticket, with %(actor)s, %(ref)s and %(requester)s to fill in.

    One whole sentence per change and reader (``mine``: the requester reads it, else a
    watcher), so each language can build its own."""
    change = new_status
    if change == "open" and old_status in {"resolved", "closed"}:
        change = "reopened"
    elif change == "open" and old_status == "pending":
        change = "unheld"
    texts = {
        "pending": (
            _("%(actor)s has put your request %(ref)s on hold for now.")
            if mine
            else _("%(actor)s has put %(requester)s's request %(ref)s on hold for now.")
        ),
        "resolved": (
            _("%(actor)s has marked your request %(ref)s as solved.")
            if mine
            else _("%(actor)s has marked %(requester)s's request %(ref)s as solved.")
        ),
        "closed": (
            _("%(actor)s has closed your request %(ref)s.")
            if mine
            else _("%(actor)s has closed %(requester)s's request %(ref)s.")
        ),
        "new": (
            _("%(actor)s has put your request %(ref)s back in the queue.")
            if mine
            else _("%(actor)s has put %(requester)s's request %(ref)s back in the queue.")
        ),
        "reopened": (
            _("%(actor)s has reopened your request %(ref)s.")
            if mine
            else _("%(actor)s has reopened %(requester)s's request %(ref)s.")
        ),
        "unheld": (
            _("%(actor)s has taken your request %(ref)s off hold.")
            if mine
            else _("%(actor)s has taken %(requester)s's request %(ref)s off hold.")
        ),
    }
    default = (
        _("%(actor)s has picked up your request %(ref)s.")
        if mine
        else _("%(actor)s has picked up %(requester)s's request %(ref)s.")
    )
    return texts.get(change, default)


def size_text(size: int) -> str:
    """'830 KB', '12.4 MB': how big a file is, as people say it."""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    megabytes = format_decimal(
        size / (1024 * 1024), format="#,##0.0", locale=current_locale().language
    )
    return f"{megabytes} MB"
