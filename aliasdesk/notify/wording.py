"""How the helpdesk words what changes with the facts: what the requester can expect
after a status change, who a pending ticket waits on, how big a file is.

Kept apart from the contexts (aliasdesk.notify.kinds) because these are sentences people
read, tuned on their own, while the contexts are the contract with the templates. Each
sentence is whole, with named placeholders, so a translator can reorder it; ``_`` reads
the catalog of the mail being rendered (see ``aliasdesk.notify.language``).
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class RatingLevel:
    """One step of the feedback scale; ``meaning`` in the language of the mail."""

    value: int

    @property
    def meaning(self) -> str:
        return {
            1: _("very poor"),
            2: _("poor"),
            3: _("okay"),
            4: _("good"),
            5: _("excellent"),
        }[self.value]


RATING_SCALE: tuple[RatingLevel, ...] = tuple(RatingLevel(value) for value in range(1, 6))


def sla_target_label(target: str) -> str:
    """A service-level target as the department says it."""
    return _("first response") if target == "first_response" else _("resolution")


REQUESTER_WORDS = frozenset({"requester", "customer", "you"})
"""Words after ``#status pending`` that mean the plain case: we wait for the requester."""


def status_word(status: str) -> str:
    """A ticket status as the department says it."""
    words = {
        "new": _("new"),
        "open": _("open"),
        "pending": _("on hold"),
        "resolved": _("solved"),
        "closed": _("closed"),
    }
    return words.get(status, status)


def priority_word(priority: str) -> str:
    words = {"low": _("low"), "normal": _("normal"), "high": _("high"), "urgent": _("urgent")}
    return words.get(priority, priority)


def ticket_state_text(status: str, priority: str, owner_name: str | None) -> str:
    """Where a ticket stands after commands: status, priority and who looks after it."""
    facts = {"status": status_word(status), "priority": priority_word(priority)}
    if owner_name:
        return _(
            "The ticket is now %(status)s with priority %(priority)s; %(owner)s looks after it."
        ) % {**facts, "owner": owner_name}
    return _("The ticket is now %(status)s with priority %(priority)s.") % facts


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


def page_next_step(status: str) -> str:
    """What the requester can expect, as their ticket page says it: the mail's sentence,
    except where that asks them to reply to "this mail" (a page is not a mail)."""
    if status == "pending":
        return _(
            "To go on we need a little more from you. Add it below or reply to our mail, "
            "and we'll carry on straight away."
        )
    if status == "resolved":
        return _("If anything is still not right, add a reply below and we'll reopen it.")
    return next_step_text(status)


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


def team_greeting(owner_name: str | None, department_name: str) -> str:
    """Hello to the owner, or to the whole department when nobody owns the ticket."""
    if owner_name:
        return _("Hello %(name)s,") % {"name": owner_name}
    return _("Hello %(department)s team,") % {"department": department_name}


def clock_help(requester_name: str, owned: bool, *, whole_team: bool = False) -> tuple[str, str]:
    """How the department answers, takes the ticket, or stops the clock (deadline mails).

    ``whole_team``: the mail goes to everyone (an escalation), so it asks for help from
    whoever can give it rather than telling one owner what to do.
    """
    facts = {"requester": requester_name}
    if whole_team and owned:
        answer = _("If you can help, reply to this mail to answer %(requester)s.")
    elif whole_team:
        answer = _(
            "If you can help, reply to this mail to answer %(requester)s, or reply with "
            "#take to look after it."
        )
    elif owned:
        answer = _("Reply to this mail to answer %(requester)s.")
    else:
        answer = _(
            "Reply to this mail to answer %(requester)s, or reply with #take to look after it."
        )
    wait = _(
        "Waiting for %(requester)s? Reply with #status pending and the clock stops until "
        "they answer."
    )
    return answer % facts, wait % facts


def left_out_text(reason: str) -> str:
    """Why a file of the request is named but not attached, in the reader's language.

    The reasons are stored in English by the services that decide them (they are also the
    ticket's record); the ones known here are translated, any other is shown as it is.
    """
    known = {
        "not attached: it could run code when opened": _(
            "not attached: it could run code when opened"
        ),
        "not attached: too large to keep": _("not attached: too large to keep"),
        "not attached: the mail would be too large": _("not attached: the mail would be too large"),
    }
    return known.get(reason, reason)


def size_text(size: int) -> str:
    """'830 KB', '12.4 MB': how big a file is, as people say it."""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    megabytes = format_decimal(
        size / (1024 * 1024), format="#,##0.0", locale=current_locale().language
    )
    return f"{megabytes} MB"
